import { renameSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Bundles the compiled CLI (dist/src) into dist/bundle: in this kind of sandbox the ESM loader
 * pays per file, and one bundle halves the time from `kuma-dp run` to Envoy's exec (README,
 * performance). Dynamic imports stay separate chunks, so install and schema code still load
 * only when used. bin/kuma-dp falls back to dist/src when there is no up-to-date bundle. A
 * separate CommonJS bundle answers `envoy which` (src/cli/fast-path.ts).
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUT = `${ROOT}dist/bundle`;
// Built aside and swapped in, so a failed build never leaves a half-written bundle behind.
const STAGING = `${OUT}.new`;

rmSync(STAGING, { recursive: true, force: true });
let esbuild: typeof import('esbuild');
try {
  esbuild = await import('esbuild');
} catch (err) {
  rmSync(OUT, { recursive: true, force: true });
  console.warn(`bundle: esbuild is not available (${(err as Error).message.split('\n')[0]}); kuma-dp will load dist/src unbundled`);
  process.exit(0);
}
const started = performance.now();
await esbuild.build({
  entryPoints: {
    main: `${ROOT}dist/src/cli/main.js`,
    'schema-check': `${ROOT}dist/src/bootstrap/schema/check-process.js`,
  },
  outdir: STAGING,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  banner: { js: "import { createRequire as __kumaDpRequire } from 'node:module'; const require = __kumaDpRequire(import.meta.url);" },
  logLevel: 'warning',
});
// `envoy which` without options, loaded by bin/kuma-dp without commander or the ESM loader.
await esbuild.build({
  entryPoints: [`${ROOT}dist/src/cli/fast-path.js`],
  outfile: `${STAGING}/fast-path.cjs`,
  bundle: true,
  // Every millisecond of parsing shows against a bare node start; the messages are strings and stay.
  minify: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20.19',
  logLevel: 'warning',
});
rmSync(OUT, { recursive: true, force: true });
renameSync(STAGING, OUT);
console.log(`bundle: dist/bundle written (${Math.round(performance.now() - started)} ms)`);
