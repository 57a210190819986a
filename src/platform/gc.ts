import { runInNewContext } from 'node:vm';
import { requireBuiltin } from './require-builtin.js';

type Collect = (options?: { type: 'minor' }) => void;

let collect: Collect | null | undefined;

/**
 * V8's `gc` function, or null where it cannot be had. It is obtained the way jest's leak detector
 * does: the flag adds it to contexts created afterwards. The flag is unset again at once: V8 checks
 * its flags against every code cache, Node.js's own for its built-in modules (each one loaded under
 * a changed flag compiles from source, +25 ms for the `run` modules) and the CLI's
 * (src/platform/code-cache.ts: one made under it would be refused by the next kuma-dp).
 */
function gcFunction(): Collect | null {
  if (collect === undefined) {
    // Not imported: loading node:v8 would hold up the bootstrap request, and execa loads it anyway
    // while kuma-dp waits for the answer.
    const { setFlagsFromString } = requireBuiltin<typeof import('node:v8')>('node:v8');
    try {
      setFlagsFromString('--expose-gc');
      try {
        collect = runInNewContext('gc') as Collect;
      } finally {
        setFlagsFromString('--no-expose-gc');
      }
    } catch {
      collect = null;
    }
  }
  return collect;
}

/**
 * A collection of V8's young generation, now. Node reads a pipe into a fresh 64 KiB buffer per
 * read that only a collection frees; under a flood of Envoy's log lines V8 collects too rarely,
 * the dead buffers pile up in malloc's heap, and glibc keeps what that heap grew to for as long
 * as kuma-dp runs (+9 MB after 100,000 lines: README, performance). A scavenge every few MB takes
 * well under a millisecond and keeps the heap where it was.
 */
export function collectYoungGarbage(): void {
  gcFunction()?.({ type: 'minor' });
}

/** A full collection, now: what is garbage in the old generation goes, and its emptied pages go back to the OS. */
export function collectAllGarbage(): void {
  gcFunction()?.();
}

export interface QuietCollector {
  /** Something allocated a lot (an Envoy start, a burst of output): collect once it is quiet. */
  activity(): void;
  stop(): void;
}

/**
 * One full collection once kuma-dp has been quiet for `quietMs` after a burst (Envoy restarts, a
 * log flood), and at least every `maxWaitMs` while a burst goes on. Left to itself V8 collects the
 * old generation only when it reaches its limit, and hands the memory back ~10 s after allocation
 * slows down (its memory reducer), so each burst raised the RSS by several MB for a while (README,
 * performance). A collection of kuma-dp's ~8 MB heap takes a few milliseconds.
 */
export function quietCollector(options: { quietMs: number; maxWaitMs: number; collect?: () => void }): QuietCollector {
  const collectNow = options.collect ?? collectAllGarbage;
  let timer: NodeJS.Timeout | undefined;
  let firstActivity: number | undefined;
  const fire = () => {
    timer = undefined;
    firstActivity = undefined;
    collectNow();
  };
  return {
    activity() {
      const now = performance.now();
      firstActivity ??= now;
      clearTimeout(timer);
      const delay = Math.max(0, Math.min(options.quietMs, firstActivity + options.maxWaitMs - now));
      // Never what keeps kuma-dp running.
      timer = setTimeout(fire, delay).unref();
    },
    stop() {
      clearTimeout(timer);
      timer = undefined;
      firstActivity = undefined;
    },
  };
}
