import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fastPath } from './fast-path.js';
import type { EarlyStart } from './early-start.js';

/** scripts/bundle.ts writes the CLI script, and its content hash next to it. */
export const CLI_SCRIPT = 'main.wrapped.js';

/**
 * Where the code cache of `run` or of the other commands is, named after the hash of the CLI
 * script (V8 would take a cache of another build of the same length); without the hash, none.
 */
export function cliCodeCacheFile(bundleDir: string, command: 'run' | 'cli'): string | undefined {
  let build: string;
  try {
    build = readFileSync(join(bundleDir, `${CLI_SCRIPT}.sha256`), 'utf8').trim().slice(0, 16);
  } catch {
    return undefined;
  }
  return build ? join(bundleDir, 'code-cache', `${command}-${build}-${process.version}-${process.arch}.v8`) : undefined;
}

/**
 * What bin/kuma-dp calls when the bundle is up to date: a plain `envoy which` is answered here
 * (fast-path.ts); anything else loads the CLI bundle with V8's code cache, `run` after starting
 * what it can (early-start.ts). `run` and the other commands keep separate caches: each holds
 * the functions its own command compiled.
 */
export async function launch(argv: string[], binDir: string): Promise<void> {
  const args = argv.slice(2);
  const answered = await fastPath(args, binDir);
  if (answered !== undefined) {
    process.exitCode = answered;
    return;
  }
  // Imported here, not above: `envoy which` must not pay for loading child_process and vm.
  const { startEarly } = await import('./early-start.js');
  // A guess (`--name run` passes too) that only decides what starts early and which cache is used.
  const command = args.includes('run') ? 'run' : 'cli';
  const bundleDir = join(binDir, '..', 'dist', 'bundle');
  const early: EarlyStart =
    command === 'run' ? await startEarly(args, { env: process.env, cwd: process.cwd(), selfDir: binDir }, join(bundleDir, 'code-cache')) : {};
  // After the early start: `--version` runs while vm and the CLI load.
  const { requireWithCodeCache } = await import('../platform/code-cache.js');
  const cacheFile = cliCodeCacheFile(bundleDir, command);
  const cli = requireWithCodeCache(join(bundleDir, CLI_SCRIPT), cacheFile);
  // Rebuilt since the hash was read (before the script, or while this kuma-dp ran): what it
  // compiled is not that build's code, and must not be cached under either build's name.
  const saveIfSameBuild = () => {
    if (cliCodeCacheFile(bundleDir, command) === cacheFile) cli.saveCache();
  };
  if (!cli.cacheHit) {
    // `run`'s cache is written once Envoy has started: it holds the start path, which is what it
    // is for, and no more (the bigger a cache, the longer V8 takes to read it at every start). A
    // run that never gets that far (a bad flag, a control plane that never answers) writes none.
    if (command === 'run') early.onEnvoyStarted = saveIfSameBuild;
    else process.once('exit', saveIfSameBuild);
  }
  await (cli.exports.main as (argv: string[], early: EarlyStart) => Promise<void>)(argv, early);
}
