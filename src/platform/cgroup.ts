import { readFileSync } from 'node:fs';

/**
 * How many times the cgroup's OOM killer has fired (cgroup v2 `memory.events`); a rise across an
 * Envoy run is the hint that a SIGKILL came from memory pressure (istio#19925).
 */
export function oomKillCount(path = '/sys/fs/cgroup/memory.events'): number | undefined {
  try {
    const match = /^oom_kill (\d+)$/m.exec(readFileSync(path, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}
