import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { interruption } from './interrupt.js';
import { isAlive } from '../../platform/pidfile.js';

/** What a lock file says about its holder. */
export interface LockOwner {
  pid: number;
  hostname: string;
  /** Unique per acquisition, so a holder never removes someone else's lock. */
  token: string;
  createdAt: string;
}

export interface LockOptions {
  signal?: AbortSignal | undefined;
  /** Called once, when the lock is found held by a live owner and we start waiting. */
  onWait?: (owner: LockOwner | undefined) => void;
  /** Called when a stale lock is recovered, with the reason it was judged stale. */
  onStale?: (reason: string) => void;
  pollMs?: number;
  /** The holder refreshes the lock's mtime this often... */
  heartbeatMs?: number;
  /** ...so a lock not refreshed for this long is stale even where its pid cannot be checked. */
  staleAfterMs?: number;
}

export interface HeldLock {
  release(): Promise<void>;
}

interface Seen {
  owner: LockOwner | undefined;
  mtimeMs: number;
}

async function inspect(path: string): Promise<Seen | undefined> {
  try {
    const [text, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    let owner: LockOwner | undefined;
    try {
      owner = JSON.parse(text) as LockOwner;
    } catch {
      // Being written right now, or garbage: only its age can tell.
    }
    return { owner, mtimeMs: info.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function staleReason(seen: Seen, staleAfterMs: number): string | undefined {
  const { owner } = seen;
  if (owner && owner.hostname === hostname() && Number.isInteger(owner.pid) && !isAlive(owner.pid)) return `its process ${owner.pid} is gone`;
  const age = Date.now() - seen.mtimeMs;
  if (age > staleAfterMs) return `it was last refreshed ${Math.round(age / 1000)}s ago`;
  return undefined;
}

/**
 * Takes a stale lock out of the way. The rename is atomic, so of several processes breaking the
 * same lock exactly one succeeds; if what it moved turns out to be a fresh lock taken meanwhile,
 * it is put back (link fails rather than overwrite a newer one).
 */
async function breakLock(path: string, seen: Seen): Promise<void> {
  const aside = `${path}.stale-${randomBytes(6).toString('hex')}`;
  try {
    await rename(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const moved = await inspect(aside);
  if (moved?.owner?.token !== seen.owner?.token) await link(aside, path).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
}

/**
 * An exclusive lock across processes (and hosts sharing the directory): a file created with
 * O_EXCL holding the owner's pid, host and a timestamp, whose mtime the holder refreshes. A lock
 * whose pid is dead on this host, or that has not been refreshed for `staleAfterMs`, is recovered.
 */
export async function acquireLock(path: string, options: LockOptions = {}): Promise<HeldLock> {
  const { signal, onWait, onStale, pollMs = 100, heartbeatMs = 2000, staleAfterMs = 30_000 } = options;
  await mkdir(dirname(path), { recursive: true });
  const me: LockOwner = { pid: process.pid, hostname: hostname(), token: randomBytes(12).toString('hex'), createdAt: new Date().toISOString() };
  let waiting = false;
  for (;;) {
    if (signal?.aborted) throw interruption(signal);
    try {
      await writeFile(path, JSON.stringify(me), { flag: 'wx', mode: 0o644 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const seen = await inspect(path);
    if (!seen) continue;
    const stale = staleReason(seen, staleAfterMs);
    if (stale) {
      onStale?.(stale);
      await breakLock(path, seen);
      continue;
    }
    if (!waiting) {
      waiting = true;
      onWait?.(seen.owner);
    }
    try {
      await sleep(pollMs, undefined, { signal });
    } catch {
      throw interruption(signal!);
    }
  }

  const heartbeat = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => undefined);
  }, heartbeatMs);
  heartbeat.unref();
  return {
    async release() {
      clearInterval(heartbeat);
      const seen = await inspect(path);
      if (seen?.owner?.token === me.token) await unlink(path).catch(() => undefined);
    },
  };
}
