import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Collect = (options: { type: 'minor' }) => void;

let collect: Collect | null | undefined;

/**
 * A collection of V8's young generation, now. Node reads a pipe into a fresh 64 KiB buffer per
 * read that only a collection frees; under a flood of Envoy's log lines V8 collects too rarely,
 * the dead buffers pile up in malloc's heap, and glibc keeps what that heap grew to for as long
 * as kuma-dp runs (+9 MB after 100,000 lines: README, performance). A scavenge every few MB takes
 * well under a millisecond and keeps the heap where it was. The `gc` function is obtained the way
 * jest's leak detector does: the flag adds it to contexts created afterwards. The flag is unset
 * again at once: V8 checks its flags against every code cache, Node.js's own for its built-in
 * modules (each one loaded under a changed flag compiles from source, +25 ms for the `run`
 * modules) and the CLI's (src/platform/code-cache.ts: one made under it would be refused by the
 * next kuma-dp). Where that is refused, this does nothing.
 */
export function collectYoungGarbage(): void {
  if (collect === undefined) {
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
  collect?.({ type: 'minor' });
}
