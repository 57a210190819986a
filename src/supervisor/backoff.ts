/**
 * Restart pacing: exponential delay with ±jitter, a budget of restarts within a sliding
 * window, and a reset of the delay after a stable run. Pure: time and randomness come in.
 */
export interface BackoffSettings {
  initialMs: number;
  maxMs: number;
  maxRestarts: number;
  windowMs: number;
  /** Continuous readiness after which the delay starts again from initialMs. */
  stableAfterMs: number;
  jitter: number;
}

export class RestartBackoff {
  private step = 0;
  private readonly restartTimes: number[] = [];

  constructor(private readonly settings: BackoffSettings) {}

  /** Restarts counted in the window ending at `now`. */
  restartsInWindow(now: number): number {
    const since = now - this.settings.windowMs;
    while (this.restartTimes.length > 0 && this.restartTimes[0]! <= since) this.restartTimes.shift();
    return this.restartTimes.length;
  }

  budgetLeft(now: number): boolean {
    return this.restartsInWindow(now) < this.settings.maxRestarts;
  }

  /** The delay before the next restart, which is recorded as happening at `now`. */
  next(now: number, random: () => number = Math.random): number {
    const base = Math.min(this.settings.initialMs * 2 ** this.step, this.settings.maxMs);
    this.step += 1;
    this.restartTimes.push(now);
    const spread = base * this.settings.jitter;
    return Math.round(base - spread + random() * 2 * spread);
  }

  /** Called with how long Envoy has been continuously ready. */
  observeReady(readyForMs: number): void {
    if (readyForMs >= this.settings.stableAfterMs) this.step = 0;
  }
}
