import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../platform/atomic-file.js';

/** Binaries remembered at most: the oldest are forgotten first. */
const MAX_ENTRIES = 16;
/** Envoy's `version:` line is ~100 characters; the memo is read before every `run` starts. */
const MAX_LINE = 512;

interface Entry {
  /** The binary's identity when it printed `line` (identityOf). */
  identity: string;
  /** The `version:` line of its output: all that version.ts reads. */
  line: string;
}

/**
 * What an Envoy binary printed for `--version` the last time, for `run` to send its bootstrap
 * request with while this start's `--version` still runs (src/run/run-dataplane.ts): start to
 * exec becomes the longer of the two instead of their sum. It is a guess, never the last word:
 * the request is sent again when `--version` disagrees, and a failing `--version` fails the run
 * as before. A wrapper script whose answer depends on its environment only costs that request.
 */
export interface VersionMemo {
  /** The `version:` line remembered for this binary, if the binary is the same file, unchanged, as then. */
  readonly recalled: string | undefined;
  /** Remembers this run's output; taken at the identity read before `--version` was started. */
  remember(stdout: string): void;
  /**
   * Forgets the binary after a failed `--version`: an unchanged binary that cannot run (a missing
   * library, a noexec mount) must not have a request sent on its behalf at every start of a crash loop.
   */
  forget(): void;
}

function versionLine(stdout: string): string | undefined {
  const line = stdout.split('\n').find((text) => text.includes('version:'))?.trim();
  return line && line.length <= MAX_LINE ? line : undefined;
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
  const recalled = entry && entry.identity === identity && typeof entry.line === 'string' ? entry.line : undefined;
  const write = (line: string | undefined) => {
    // Read again: instances starting side by side remember other binaries meanwhile.
    const entries = readEntries(file);
    delete entries[binary];
    const kept = Object.entries(entries).slice(-(MAX_ENTRIES - 1));
    if (line !== undefined) kept.push([binary, { identity: identity!, line }]);
    try {
      mkdirSync(dirname(file), { recursive: true });
      // Readable by every user of a shared installation, as the code caches beside it are.
      writeFileAtomic(file, JSON.stringify(Object.fromEntries(kept)), 0o644);
    } catch {
      // A read-only installation keeps nothing: every start waits for --version, as without a memo.
    }
  };
  return {
    recalled,
    remember(stdout) {
      const line = versionLine(stdout);
      if (identity === undefined || line === recalled) return;
      write(line);
    },
    forget() {
      if (entry !== undefined) write(undefined);
    },
  };
}
