/**
 * Figures of a benchmark: samples, the same-run baseline they are compared with, and the target
 * that decides PASS or MISS. One line per figure, e.g.
 * `start-to-exec: median 412 ms (min 398, max 440) | floor median 301 ms | ratio 1.37 (target ≤ 1.5) PASS`.
 */

export interface Summary {
  n: number;
  min: number;
  median: number;
  max: number;
}

export type Target =
  /** median / baseline median ≤ value (a cost compared with its floor). */
  | { kind: 'ratio-max'; value: number }
  /** baseline median / median ≥ value (a throughput: the baseline is the faster, direct path). */
  | { kind: 'throughput-min'; value: number }
  /** The statistic of the samples ≤ value, in the figure's unit. */
  | { kind: 'max'; value: number; of: 'median' | 'max' | 'max-abs' }
  /** A condition checked by the benchmark itself (nothing lost, every instance exited 0...). */
  | { kind: 'check'; ok: boolean; detail: string }
  /** Informational: no target. */
  | { kind: 'info' };

export interface Figure {
  name: string;
  unit: string;
  samples: number[];
  baseline?: { name: string; samples: number[] };
  target: Target;
  /** Said after the verdict: what a sample is, what was checked. */
  note?: string;
}

export type Verdict = 'PASS' | 'MISS' | 'INFO';

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) return { n: 0, min: NaN, median: NaN, max: NaN };
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { n: sorted.length, min: sorted[0]!, median, max: sorted[sorted.length - 1]! };
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** The number the target is checked against: a ratio, or a statistic of the samples. */
export function measured(figure: Figure): number | undefined {
  const s = summarize(figure.samples);
  const base = figure.baseline ? summarize(figure.baseline.samples) : undefined;
  switch (figure.target.kind) {
    case 'ratio-max':
      return base ? s.median / base.median : undefined;
    case 'throughput-min':
      return base ? base.median / s.median : undefined;
    case 'max':
      if (figure.target.of === 'median') return s.median;
      if (figure.target.of === 'max') return s.max;
      return Math.max(...figure.samples.map(Math.abs));
    default:
      return undefined;
  }
}

export function verdict(figure: Figure): Verdict {
  const t = figure.target;
  if (t.kind === 'info') return 'INFO';
  if (t.kind === 'check') return t.ok ? 'PASS' : 'MISS';
  const value = measured(figure);
  if (value === undefined || Number.isNaN(value)) return 'MISS';
  if (t.kind === 'throughput-min') return value >= t.value ? 'PASS' : 'MISS';
  return value <= t.value ? 'PASS' : 'MISS';
}

export function fmt(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function targetText(figure: Figure): string {
  const t = figure.target;
  switch (t.kind) {
    case 'ratio-max':
      return `target ≤ ${t.value}`;
    case 'throughput-min':
      return `target ≥ ${t.value}`;
    case 'max':
      return `target ${t.of === 'median' ? 'median' : t.of === 'max' ? 'max' : 'max |error|'} ≤ ${t.value} ${figure.unit}`;
    case 'check':
      return t.detail;
    case 'info':
      return 'no target';
  }
}

/** The one line that states a figure. */
export function figureLine(figure: Figure): string {
  if (figure.target.kind === 'check' && figure.samples.length === 0) {
    return `${figure.name}: ${verdict(figure)} (${figure.target.detail})${figure.note ? `  [${figure.note}]` : ''}`;
  }
  const s = summarize(figure.samples);
  const u = figure.unit;
  const parts = [`${figure.name}: median ${fmt(s.median)} ${u} (min ${fmt(s.min)}, max ${fmt(s.max)}, n=${s.n})`];
  if (figure.baseline) {
    const b = summarize(figure.baseline.samples);
    parts.push(`${figure.baseline.name} median ${fmt(b.median)} ${u} (min ${fmt(b.min)}, max ${fmt(b.max)})`);
  }
  const value = measured(figure);
  const t = figure.target;
  const what = t.kind === 'ratio-max' ? 'ratio' : t.kind === 'throughput-min' ? 'throughput ratio' : undefined;
  if (what && value !== undefined) parts.push(`${what} ${value.toFixed(2)} (${targetText(figure)}) ${verdict(figure)}`);
  else if (t.kind === 'max' && value !== undefined) parts.push(`${fmt(value)} ${u} (${targetText(figure)}) ${verdict(figure)}`);
  else parts.push(`(${targetText(figure)}) ${verdict(figure)}`);
  return `${parts.join(' | ')}${figure.note ? `  [${figure.note}]` : ''}`;
}
