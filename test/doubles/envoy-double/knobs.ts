import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Env knobs, read as ENVOY_DOUBLE_<NAME>. With ENVOY_DOUBLE_STATE_DIR set, each start is numbered
 * (1, 2, 3, ... kept in <dir>/starts), and ENVOY_DOUBLE_<NAME>_<N> overrides the plain knob for
 * start N only; an empty per-start value unsets the knob for that start.
 */
export class Knobs {
  constructor(
    private readonly env: NodeJS.ProcessEnv,
    readonly startNumber: number | undefined,
  ) {}

  static fromEnv(env: NodeJS.ProcessEnv): Knobs {
    const dir = env.ENVOY_DOUBLE_STATE_DIR;
    if (!dir) return new Knobs(env, undefined);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'starts');
    let previous = 0;
    try {
      previous = Number(readFileSync(file, 'utf8').trim()) || 0;
    } catch {
      // first start: no counter yet
    }
    writeFileSync(file, `${previous + 1}\n`);
    return new Knobs(env, previous + 1);
  }

  str(name: string): string | undefined {
    if (this.startNumber !== undefined) {
      const perStart = this.env[`ENVOY_DOUBLE_${name}_${this.startNumber}`];
      if (perStart !== undefined) return perStart === '' ? undefined : perStart;
    }
    const plain = this.env[`ENVOY_DOUBLE_${name}`];
    return plain === '' ? undefined : plain;
  }

  /** A non-negative integer knob; anything else (e.g. `never`) reads as unset. */
  int(name: string): number | undefined {
    const raw = this.str(name);
    if (raw === undefined || !/^\d+$/.test(raw.trim())) return undefined;
    return Number(raw);
  }

  flag(name: string): boolean {
    const raw = this.str(name);
    return raw !== undefined && raw !== '0' && raw.toLowerCase() !== 'false';
  }
}
