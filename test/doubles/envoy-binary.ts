import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeExecutable } from '../support/executable.js';

/** Absolute path of the compiled double (dist/test/doubles/envoy-double.js). */
export const ENVOY_DOUBLE_SCRIPT = fileURLToPath(new URL('./envoy-double.js', import.meta.url));

export const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export interface InstallOptions {
  /** File name in `dir`; default `envoy`. */
  name?: string;
  /** Baked in as ENVOY_DOUBLE_VERSION. */
  version?: string;
  /** More ENVOY_DOUBLE_* knobs (or any variable) baked into the script; they override the caller's env. */
  env?: Record<string, string>;
}

/**
 * Writes an executable that runs the double. `exec` keeps the pid, so signals and pid files refer
 * to the node process itself.
 */
export function installEnvoyDouble(dir: string, { name = 'envoy', version, env = {} }: InstallOptions = {}): string {
  const path = join(dir, name);
  const baked = version === undefined ? env : { ENVOY_DOUBLE_VERSION: version, ...env };
  const exports = Object.entries(baked)
    .map(([key, value]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new Error(`not an environment variable name: ${key}`);
      return `${key}=${shellQuote(value)}; export ${key}\n`;
    })
    .join('');
  return writeExecutable(path, `#!/bin/sh\n${exports}exec ${shellQuote(process.execPath)} ${shellQuote(ENVOY_DOUBLE_SCRIPT)} "$@"\n`);
}
