import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';

/** Binaries remembered at most: the oldest are forgotten first. */
const MAX_ENTRIES = 16;
/** An answer is one line (Envoy's `version:` line is ~100 characters); the memo is read before every `run` starts. */
const MAX_ANSWER = 512;

interface Entry {
  /** The binary's identity when it gave `line` (identityOf). */
  identity: string;
  line: string;
}

/**
 * What a binary answered the last time kuma-dp asked it something at start-up (Envoy's
 * `--version`, whether setpriv has `--pdeathsig`), for the next start to go on with instead of
 * waiting for, or spawning, the same question again. Only while the binary is the same file,
 * unchanged: rebuilt, touched or replaced, it is asked again. Each memo file holds the answers
 * to one question.
 */
export interface BinaryMemo {
  /** The answer remembered for this binary, if it is the same file, unchanged, as then. */
  readonly recalled: string | undefined;
  /**
   * Remembers this start's answer, under the identity read when the memo was opened (before the
   * binary was asked): a binary changed meanwhile is asked again next time. An answer over
   * 512 characters is not kept.
   */
  remember(answer: string): void;
  /** Forgets the binary: it failed to answer, and must be asked again. */
  forget(): void;
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

/** The memo kept in `file` for `binary`. Open it before asking the binary: its identity is read now. */
export function binaryMemo(file: string, binary: string): BinaryMemo {
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
      // A read-only installation keeps nothing: every start asks again, as without a memo.
    }
  };
  const forget = () => {
    if (entry !== undefined) write(undefined);
  };
  return {
    recalled,
    remember(answer) {
      if (answer.length > MAX_ANSWER) forget();
      else if (identity !== undefined && answer !== recalled) write(answer);
    },
    forget,
  };
}
