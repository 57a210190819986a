import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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
const CLI_SCRIPT = 'main.wrapped.js';
/** Envoy installs (tar, cli-progress), `bootstrap validate` (protobuf), a fallback for old Node (web streams). */
const RARELY_USED_PACKAGES = ['tar', 'cli-progress', '@bufbuild/protobuf', 'web-streams-polyfill'];
// CommonJS with import.meta.url kept meaningful (package-root.ts, background.ts find files by it).
const commonJs = {
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20.19',
  define: { 'import.meta.url': '__kumaDpModuleUrl' },
  // Strict as the ES modules it is made of: a banner ahead of esbuild's own "use strict" would
  // otherwise turn that into a plain string.
  banner: { js: `"use strict";const __kumaDpModuleUrl = require('node:url').pathToFileURL(__filename).href;` },
  // Non-ASCII characters escaped: code-cache.ts reads the CLI script as Latin-1.
  charset: 'ascii',
  logLevel: 'warning',
} as const;
// Less to read and hash at every start; names stay, for stack traces in bug reports.
const compact = { minifyWhitespace: true, minifySyntax: true } as const;
await esbuild.build({
  ...commonJs,
  ...compact,
  entryPoints: [`${ROOT}dist/src/cli/main.js`],
  outfile: `${STAGING}/${CLI_SCRIPT}`,
  // The module wrapper is part of the file: src/platform/code-cache.ts compiles it as it is,
  // without a concatenated copy of 750 KB (2 MB less RSS for as long as kuma-dp runs).
  banner: { js: `(function (exports, require, module, __filename, __dirname) {${commonJs.banner.js}` },
  footer: { js: '})' },
  // Licence notices (some not ASCII) go to main.wrapped.js.LEGAL.txt beside it.
  legalComments: 'external',
  // Required from node_modules when used: every byte of this bundle is parsed, and kept, by every
  // `run`, which needs none of them.
  external: RARELY_USED_PACKAGES,
});
// Self-contained: a startup snapshot can load nothing but node's own modules.
await esbuild.build({
  ...commonJs,
  ...compact,
  entryPoints: [`${ROOT}dist/src/bootstrap/schema/check-process.js`],
  outfile: `${STAGING}/schema-check.cjs`,
});
// Loaded by bin/kuma-dp for every command: a plain `envoy which` is answered without the CLI bundle.
await esbuild.build({
  ...commonJs,
  entryPoints: [`${ROOT}dist/src/cli/launcher.js`],
  outfile: `${STAGING}/launcher.cjs`,
  // Every millisecond of parsing shows against a bare node start; the messages are strings and stay.
  minify: true,
});
assertAscii(`${STAGING}/${CLI_SCRIPT}`);
// Names the build in the code cache's file name (src/cli/launcher.ts).
writeFileSync(`${STAGING}/${CLI_SCRIPT}.sha256`, `${createHash('sha256').update(readFileSync(`${STAGING}/${CLI_SCRIPT}`)).digest('hex')}\n`);
buildSchemaCheckSnapshot();
rmSync(OUT, { recursive: true, force: true });
renameSync(STAGING, OUT);
console.log(`bundle: dist/bundle written (${Math.round(performance.now() - started)} ms)`);

/**
 * esbuild escapes non-ASCII characters in strings but keeps them in regular expression literals;
 * read as Latin-1 (code-cache.ts), such a character would silently become two others.
 */
function assertAscii(file: string): void {
  const bytes = readFileSync(file);
  const at = bytes.findIndex((byte) => byte > 0x7f);
  if (at >= 0) {
    throw new Error(`bundle: ${file} has a non-ASCII byte at offset ${at}, near ${JSON.stringify(bytes.subarray(Math.max(0, at - 40), at + 10).toString('utf8'))}; write it as an escape in the source`);
  }
}

/**
 * The schema check as a startup snapshot for this node (background.ts uses it when the running
 * node is the same one, and falls back to the script when the snapshot will not start). Without
 * it the check starts from its bundle: slower, same verdicts. Built and tried with no
 * NODE_OPTIONS, as the check runs: V8 refuses a snapshot made under other heap settings.
 */
function buildSchemaCheckSnapshot(): void {
  const blob = `${STAGING}/${schemaCheckSnapshotName()}`;
  const script = `${STAGING}/schema-check.cjs`;
  const env = { ...process.env, NODE_OPTIONS: '' };
  const built = spawnSync(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', script], { encoding: 'utf8', env });
  // Started without an IPC channel it has nothing to wait for and exits 0 at once.
  const tried = built.status === 0 ? spawnSync(process.execPath, ['--snapshot-blob', blob, script], { encoding: 'utf8', env, timeout: 30_000 }) : built;
  if (tried.status === 0) return;
  rmSync(blob, { force: true });
  const reason = (tried.error?.message ?? tried.stderr.trim().split('\n').pop()) || `exit ${tried.status ?? tried.signal}`;
  console.warn(`bundle: no startup snapshot of the schema check (${reason}); it will start from its bundle`);
}
