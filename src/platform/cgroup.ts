import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The files that count our cgroup's OOM kills (an `oom_kill N` line in each), best first:
 * cgroup v2 `memory.events` of the unified cgroup (`0::/path` in /proc/self/cgroup), then
 * cgroup v1 `memory.oom_control` of the memory controller's cgroup (`N:memory:/path`) and of the
 * hierarchy's root, which is our own cgroup inside a container with a cgroup namespace.
 */
export function oomCounterPaths(procSelfCgroup: string, root = '/sys/fs/cgroup'): string[] {
  const paths: string[] = [];
  const unified = /^0::(\/.*)$/m.exec(procSelfCgroup);
  if (unified) paths.push(join(root, unified[1]!, 'memory.events'));
  const memory = /^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:(\/.*)$/m.exec(procSelfCgroup);
  if (memory) paths.push(join(root, 'memory', memory[1]!, 'memory.oom_control'));
  paths.push(join(root, 'memory.events'), join(root, 'memory', 'memory.oom_control'));
  return [...new Set(paths)];
}

function ownOomCounterPaths(): string[] {
  let procSelfCgroup = '';
  try {
    procSelfCgroup = readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    // Not Linux: no candidates will be readable either.
  }
  return oomCounterPaths(procSelfCgroup);
}

/**
 * How many times the cgroup's OOM killer has fired; a rise across an Envoy run is the hint that a
 * SIGKILL came from memory pressure (istio#19925). Undefined where no counter can be read.
 */
export function oomKillCount(paths: readonly string[] = ownOomCounterPaths()): number | undefined {
  for (const path of paths) {
    try {
      const match = /^oom_kill (\d+)$/m.exec(readFileSync(path, 'utf8'));
      if (match) return Number(match[1]);
    } catch {
      // Try the next candidate.
    }
  }
  return undefined;
}
