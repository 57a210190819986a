import { spawnSync } from 'node:child_process';
import { renameSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { schemaCheckSnapshotName } from '../src/bootstrap/schema/background.js';

/**
 * Bundles the compiled CLI (dist/src) into dist/bundle, as CommonJS: the ESM loader pays per file
 * and has no compile cache on Node.js 20, while one CommonJS file can be loaded with V8's code
 * cache (src/platform/code-cache.ts). Modules imported dynamically are still evaluated only when
 * used. bin/kuma-dp falls back to dist/src when there is no up-to-date bundle. The small
 * launcher.cjs answers `envoy which` without loading the rest (src/cli/launcher.ts).
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
// CommonJS with import.meta.url kept meaningful (package-root.ts, background.ts find files by it).
const commonJs = {
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20.19',
  define: { 'import.meta.url': '__kumaDpModuleUrl' },
  banner: { js: "const __kumaDpModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
} as const;
await esbuild.build({
  ...commonJs,
  entryPoints: {
    main: `${ROOT}dist/src/cli/main.js`,
    'schema-check': `${ROOT}dist/src/bootstrap/schema/check-process.js`,
  },
  outdir: STAGING,
  outExtension: { '.js': '.cjs' },
  // Less to read and hash at every start; names stay, for stack traces in bug reports.
  minifyWhitespace: true,
  minifySyntax: true,
});
// Loaded by bin/kuma-dp for every command: a plain `envoy which` is answered without the CLI bundle.
await esbuild.build({
  ...commonJs,
  entryPoints: [`${ROOT}dist/src/cli/launcher.js`],
  outfile: `${STAGING}/launcher.cjs`,
  // Every millisecond of parsing shows against a bare node start; the messages are strings and stay.
  minify: true,
});
buildSchemaCheckSnapshot();
rmSync(OUT, { recursive: true, force: true });
renameSync(STAGING, OUT);
console.log(`bundle: dist/bundle written (${Math.round(performance.now() - started)} ms)`);

/**
 * The schema check as a startup snapshot for this node (background.ts uses it when the running
 * node is the same one). Without it the check starts from its bundle: slower, same verdicts.
 */
function buildSchemaCheckSnapshot(): void {
  const blob = `${STAGING}/${schemaCheckSnapshotName()}`;
  const built = spawnSync(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', `${STAGING}/schema-check.cjs`], { encoding: 'utf8' });
  if (built.status === 0) return;
  rmSync(blob, { force: true });
  const reason = (built.error?.message ?? built.stderr.trim().split('\n').pop()) || `exit ${built.status ?? built.signal}`;
  console.warn(`bundle: no startup snapshot of the schema check (${reason}); it will start from its bundle`);
}
