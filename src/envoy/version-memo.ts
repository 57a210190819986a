import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { tempSuffix } from '../util/temp-suffix.js';

/** Binaries remembered at most: the oldest are forgotten first. */
const MAX_ENTRIES = 16;

interface Entry {
  /** The binary's identity when it printed `stdout` (identityOf). */
  identity: string;
  stdout: string;
}

/**
 * What an Envoy binary printed for `--version` the last time, for `run` to send its bootstrap
 * request with while this start's `--version` still runs (src/run/run-dataplane.ts): start to
 * exec becomes the longer of the two instead of their sum. It is a guess, never the last word:
 * the request is sent again when `--version` disagrees, and a failing `--version` fails the run
 * as before. A wrapper script whose answer depends on its environment only costs that request.
 */
export interface VersionMemo {
  /** The output remembered for this binary, if the binary is the same file, unchanged, as then. */
  readonly recalled: string | undefined;
  /** Remembers this run's output; taken at the identity read before `--version` was started. */
  remember(stdout: string): void;
}

/**
 * The file's identity: a binary replaced, rebuilt or touched gets another one. The change time is
 * in it because nothing can set it back; a write that keeps the mtime and size still changes it.
 */
function identityOf(binary: string): string | undefined {
  try {
    const stat = statSync(binary, { bigint: true });
    return [stat.dev, stat.ino, stat.size, stat.mtimeNs, stat.ctimeNs].join(':');
  } catch {
    return undefined;
  }
}

function readEntries(file: string): Record<string, Entry> {
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, Entry>) : {};
  } catch {
    // Missing, unreadable or not ours: nothing remembered, and the next remember() replaces it.
    return {};
  }
}

/** The memo kept in `file` for `binary`. Call before starting `--version`: the identity is read now. */
export function versionMemo(file: string, binary: string): VersionMemo {
  const identity = identityOf(binary);
  const entry = identity === undefined ? undefined : readEntries(file)[binary];
  const recalled = entry && entry.identity === identity && typeof entry.stdout === 'string' ? entry.stdout : undefined;
  return {
    recalled,
    remember(stdout) {
      if (identity === undefined || stdout === recalled) return;
      // Read again: instances starting side by side remember other binaries meanwhile.
      const entries = readEntries(file);
      delete entries[binary];
      const kept = Object.entries(entries).slice(-(MAX_ENTRIES - 1));
      const staging = `${file}.${tempSuffix()}.tmp`;
      try {
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(staging, JSON.stringify(Object.fromEntries([...kept, [binary, { identity, stdout }]])), { flag: 'wx' });
        renameSync(staging, file);
      } catch {
        // A read-only installation keeps nothing: every start waits for --version, as without a memo.
        try {
          rmSync(staging, { force: true });
        } catch {
          // Its directory could not be made either.
        }
      }
    },
  };
}
