import { createHash } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CLI_SCRIPT } from '../src/cli/launcher.js';

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
try {
  const started = performance.now();
  /** Envoy installs (tar, cli-progress), a fallback for old Node (web streams). */
  const RARELY_USED_PACKAGES = ['tar', 'cli-progress', 'web-streams-polyfill'];
  // CommonJS with import.meta.url kept meaningful (package-root.ts finds files by it).
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
  rmSync(OUT, { recursive: true, force: true });
  renameSync(STAGING, OUT);
  console.log(`bundle: dist/bundle written (${Math.round(performance.now() - started)} ms)`);
} catch (err) {
  // esbuild has printed its own diagnostics; this is the one line saying what it means, and the
  // staging directory goes: dist/bundle is untouched, so bin/kuma-dp keeps its last good bundle.
  rmSync(STAGING, { recursive: true, force: true });
  console.error(`bundle: ${(err as Error).message.split('\n')[0]}`);
  process.exit(1);
}

/**
 * esbuild escapes non-ASCII characters in strings but keeps them in regular expression literals;
 * read as Latin-1 (code-cache.ts), such a character would silently become two others.
 */
function assertAscii(file: string): void {
  const bytes = readFileSync(file);
  const at = bytes.findIndex((byte) => byte > 0x7f);
  if (at >= 0) {
    throw new Error(`${file} has a non-ASCII byte at offset ${at}, near ${JSON.stringify(bytes.subarray(Math.max(0, at - 40), at + 10).toString('utf8'))}; write it as an escape in the source`);
  }
}
