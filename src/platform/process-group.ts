import { readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive, statFields } from './pidfile.js';

const POLL_MS = 50;

/** Whether anything can be signalled in the group (zombies included). */
function groupSignallable(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The group's members from one scan of /proc, or undefined where there is no /proc. */
function groupMembers(pgid: number): number[] | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  return entries.filter((entry) => /^\d+$/.test(entry) && Number(statFields(Number(entry))?.[2]) === pgid).map(Number);
}

/**
 * Resolves true once no process of the group runs any more (zombies waiting for a slow reaper do
 * not count), or false after `timeoutMs`. /proc is scanned once; after that only the members found
 * are polled, so a wait costs the same on a host with thousands of processes. Without /proc the
 * group counts as gone when nothing in it can be signalled.
 */
export function processGroupGone(pgid: number, timeoutMs = Infinity): Promise<boolean> {
  let members = groupSignallable(pgid) ? groupMembers(pgid) : [];
  return gone(() => {
    members = members?.filter(isAlive);
    return members === undefined ? !groupSignallable(pgid) : members.length === 0;
  }, timeoutMs);
}

/** Resolves true once the process has exited (a zombie counts as exited), or false after `timeoutMs`. */
export function processGone(pid: number, timeoutMs = Infinity): Promise<boolean> {
  return gone(() => !isAlive(pid), timeoutMs);
}

async function gone(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() >= deadline) return false;
    await sleep(POLL_MS);
  }
  return true;
}
