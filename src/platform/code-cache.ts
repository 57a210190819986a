import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { constants, Script } from 'node:vm';
import { tempSuffix } from '../util/temp-suffix.js';

export interface CachedModule {
  exports: Record<string, unknown>;
  /** Whether the cache file held code V8 accepted. */
  cacheHit: boolean;
  /**
   * Writes the code compiled so far (every function run until now, not only the top level) to
   * the cache file, when it was missing or rejected. Never throws: a read-only install only
   * loses the speed-up.
   */
  saveCache(): void;
}

/**
 * Loads a CommonJS bundle the way `require` does, with V8's code cache: Node.js 20 has no compile
 * cache of its own (`module.enableCompileCache` is Node 22), and compiling the bundle is a third
 * of the time from `kuma-dp run` to Envoy's exec. V8 refuses a cache made by another V8 version
 * or under other V8 flags, but of the source it checks only the length: `cacheFile` must name the
 * build (launcher.ts puts the bundle's content hash in it), or a cache of an older build would run
 * the older code. A refused or missing cache is written again by saveCache().
 *
 * The file holds the module wrapper function itself, `(function (exports, require, module,
 * __filename, __dirname) {…})`, in ASCII (scripts/bundle.ts): compiled as read, as Latin-1,
 * without a decoded or concatenated copy, which would stay in kuma-dp's memory as long as it runs.
 */
export function requireWithCodeCache(file: string, cacheFile: string | undefined): CachedModule {
  const source = readFileSync(file, 'latin1');
  let cachedData: Buffer | undefined;
  try {
    cachedData = cacheFile === undefined ? undefined : readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new Script(source, {
    filename: file,
    cachedData,
    // An import() left in a dependency (an optional package) resolves as it would outside vm.
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const cacheHit = cachedData !== undefined && !script.cachedDataRejected;
  const module = { exports: {} as Record<string, unknown> };
  const wrapper = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: unknown, filename: string, dirname: string) => void;
  wrapper(module.exports, createRequire(file), module, file, dirname(file));
  let saved = cacheHit;
  return {
    exports: module.exports,
    cacheHit,
    saveCache() {
      if (saved || cacheFile === undefined) return;
      saved = true;
      // Written aside and renamed: instances starting side by side (pid 1 in two containers
      // sharing the installation, too) never read half a file. Opened before the cache is
      // serialised, so an unwritable directory costs nothing more.
      const staging = `${cacheFile}.${tempSuffix()}.tmp`;
      try {
        mkdirSync(dirname(cacheFile), { recursive: true });
        const fd = openSync(staging, 'wx', 0o644);
        try {
          writeSync(fd, script.createCachedData());
        } finally {
          closeSync(fd);
        }
        renameSync(staging, cacheFile);
        removeAbandonedStagingFiles(dirname(cacheFile));
      } catch {
        try {
          rmSync(staging, { force: true });
        } catch {
          // No directory to have left it in.
        }
      }
    },
  };
}

/** A write takes milliseconds: a staging file this old was left by a kuma-dp killed while writing. */
const ABANDONED_AFTER_MS = 10 * 60_000;

function removeAbandonedStagingFiles(dir: string): void {
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.tmp')) continue;
    const path = join(dir, name);
    try {
      if (Date.now() - statSync(path).mtimeMs > ABANDONED_AFTER_MS) rmSync(path, { force: true });
    } catch {
      // Renamed or removed by another kuma-dp meanwhile.
    }
  }
}
