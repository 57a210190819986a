/**
 * Go's time.ParseDuration syntax ("300ms", "1h30m", "-1.5h" is refused: durations here are
 * never negative), because every duration flag and KUMA_* env var is shared with the Go kuma-dp.
 */
const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

// µ (micro sign) and μ (Greek mu) as escapes: the bundle is ASCII (scripts/bundle.ts).
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/y;

/** Returns milliseconds, or throws an Error whose message explains the expected form. */
export function parseDuration(text: string): number {
  const input = text.trim();
  if (input === '0') return 0;
  if (input === '') throw new Error('empty duration; use Go syntax such as 500ms, 30s or 1h30m');
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < input.length) {
    const start = PART.lastIndex;
    const match = PART.exec(input);
    if (!match || match.index !== start) {
      throw new Error(`invalid duration "${text}"; use Go syntax such as 500ms, 30s or 1h30m`);
    }
    total += Number(match[1]) * UNIT_MS[match[2]!]!;
  }
  return total;
}

/** The shortest Go-style rendering, for logs and help texts. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${+ms.toFixed(3)}ms`;
  let rest = Math.round(ms);
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = rest / 1000;
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${+s.toFixed(3)}s`;
}

/**
 * A duration setting checked the one way every command reports it: a malformed value or (when
 * `positive`) a zero becomes a problem line naming `origin` (a flag or env var), and 0 is returned.
 */
export function durationSetting(text: string, origin: string, problems: string[], { positive }: { positive: boolean }): number {
  try {
    const ms = parseDuration(text);
    if (positive && ms <= 0) problems.push(`${origin} must be greater than 0, got "${text}"`);
    return ms;
  } catch (err) {
    problems.push(`${origin}: ${(err as Error).message}`);
    return 0;
  }
}
