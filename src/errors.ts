/**
 * Exit codes pinned by DESIGN.md §3. Envoy's own code N and 128+signal are computed where
 * Envoy's end is known (supervisor); these are the ones kuma-dp chooses for itself.
 */
export const ExitCode = {
  OK: 0,
  /** Control plane refused us or was unreachable within the retry budget; any other runtime failure. */
  FAILURE: 1,
  /** Bad usage or configuration found before Envoy starts. */
  USAGE: 2,
} as const;

export interface KumaDpErrorOptions {
  exitCode?: number;
  /** What the operator should do; appended to the message after "; " so the whole error stays one line. */
  hint?: string;
  cause?: unknown;
}

/**
 * An error meant for the operator: `message` says what is wrong and where, `hint` how to fix it.
 * Everything that reaches the top of the CLI is printed as exactly one line from this.
 */
export class KumaDpError extends Error {
  readonly exitCode: number;
  readonly hint: string | undefined;

  constructor(message: string, options: KumaDpErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KumaDpError';
    this.exitCode = options.exitCode ?? ExitCode.FAILURE;
    this.hint = options.hint;
  }

  /** The single line printed on stderr before a non-zero exit. */
  get line(): string {
    const text = this.hint ? `${this.message}; ${this.hint}` : this.message;
    return text.replace(/\s*\n\s*/g, ' ');
  }
}

/** Bad flags, env vars, templates, tokens, work dir or Envoy binary: exit 2, nothing started. */
export class ConfigError extends KumaDpError {
  constructor(message: string, options: Omit<KumaDpErrorOptions, 'exitCode'> = {}) {
    super(message, { ...options, exitCode: ExitCode.USAGE });
    this.name = 'ConfigError';
  }
}

/** Several configuration problems found at once, reported together (still one line). */
export class ConfigErrors extends ConfigError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(problems.length === 1 ? problems[0]! : `${problems.length} configuration problems: ${problems.join('; ')}`);
    this.name = 'ConfigErrors';
    this.problems = problems;
  }
}

export function errorLine(err: unknown): string {
  if (err instanceof KumaDpError) return err.line;
  if (err instanceof Error) return err.message.replace(/\s*\n\s*/g, ' ');
  return String(err);
}
