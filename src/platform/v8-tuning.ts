import { requireBuiltin } from './require-builtin.js';

/**
 * Sets V8 up for what kuma-dp does once Envoy runs: wait, relay Envoy's output, restart it.
 * Left as they were, Envoy restarts grew kuma-dp's RSS by 5–7 MB over the first 50, past the
 * 60 MB target, and then slowly (bench/README.md):
 * - The young generation doubled whenever much of it survived a scavenge, and a restart's objects
 *   (the child process, its pipes, execa's promise chain) live for as long as Envoy starts up. V8
 *   never shrank it again. With growth factor 1 it stays within a doubling or two of its size now.
 * - Code kept being optimized as restarts ran it, and each TurboFan or Maglev job runs on one of
 *   V8's background threads, whose malloc arenas keep what its zones grew to. Code not
 *   optimized by now stays in the interpreter or Sparkplug's baseline code: the relay's per-byte
 *   work is Buffer search in C++, and its throughput did not change (bench/relay). What does run
 *   JavaScript per line, `--envoy-output json`, takes ~25% longer per line: ~2 µs, still
 *   ~500,000 lines a second, far more than Envoy logs.
 *
 * Called once Envoy runs, not at start: V8 checks its flags against every code cache, so from
 * here on Node.js's own cache for a built-in module loaded later is refused, and a CLI code cache
 * written afterwards would be refused by the next kuma-dp (src/platform/code-cache.ts).
 * `--max-opt` is not used: Node.js 24's V8 ignores it once running.
 */
export function tuneV8ForSupervision(): void {
  // Not imported: loading node:v8 at start would hold up the bootstrap request.
  const { setFlagsFromString } = requireBuiltin<typeof import('node:v8')>('node:v8');
  setFlagsFromString('--semi-space-growth-factor=1');
  setFlagsFromString('--no-turbofan');
  setFlagsFromString('--no-maglev');
}
