import { createRequire } from 'node:module';

const nodeRequire = createRequire(import.meta.url);

/**
 * A Node.js built-in module loaded when first needed instead of at start-up, where every module
 * loaded delays Envoy's exec. Not `import()`: inside the code-cached bundle (a vm.Script) Node 20
 * has no dynamic import of its own modules.
 */
export function requireBuiltin<T>(name: `node:${string}`): T {
  return nodeRequire(name) as T;
}
