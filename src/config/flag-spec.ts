/**
 * One row of the flag/env/default table. Defaults are applied by us, not commander, so that the
 * precedence flag > env var > default is decided in one place and `--help` still shows them.
 */
export interface FlagSpec {
  /** Settings key; also commander's attribute name for the flag, when there is one. */
  key: string;
  /** Commander flag syntax, e.g. `-d, --dataplane-file <path>`; absent for env-only settings. */
  flags?: string;
  env?: string;
  /** Raw default, as the user would type it. */
  defaultValue?: string;
  description: string;
  /** Repeatable flag (values accumulate). */
  repeatable?: boolean;
  /** The values allowed; run-settings checks against them. */
  choices?: readonly string[];
}

export type RawValues = Record<string, string | string[] | boolean | undefined>;

export interface RawSetting {
  value: string | string[] | undefined;
  /** Where the value came from, for messages: `--drain-time`, `KUMA_DATAPLANE_DRAIN_TIME` or `default`. */
  origin: string;
}

function flagName(spec: FlagSpec): string {
  return spec.flags!.split(/[ ,]+/).find((part) => part.startsWith('--'))!;
}

/** flag > env var > default, remembering where each value came from. */
export function pickRaw(spec: FlagSpec, cli: RawValues, env: NodeJS.ProcessEnv): RawSetting {
  const fromCli = spec.flags ? cli[spec.key] : undefined;
  if (fromCli !== undefined) {
    const value = typeof fromCli === 'boolean' ? String(fromCli) : fromCli;
    return { value, origin: flagName(spec) };
  }
  const fromEnv = spec.env ? env[spec.env] : undefined;
  if (fromEnv !== undefined && fromEnv !== '') {
    return { value: spec.repeatable ? fromEnv.split(',') : fromEnv, origin: spec.env! };
  }
  return { value: spec.defaultValue, origin: 'default' };
}

/** A README table of the specs; the README embeds this and a test keeps the two in sync. */
export function renderFlagTable(specs: readonly FlagSpec[]): string {
  const rows = specs.map((spec) => {
    const flag = spec.flags ? `\`${spec.flags.replace(/ <[^>]+>$/, '')}\`` : '(env only)';
    const env = spec.env ? `\`${spec.env}\`` : '';
    const def = spec.defaultValue ? `\`${spec.defaultValue}\`` : '';
    return `| ${flag} | ${env} | ${def} | ${spec.description.replace(/\|/g, '\\|')} |`;
  });
  return ['| flag | env | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}
