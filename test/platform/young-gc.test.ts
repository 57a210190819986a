import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { expect } from 'chai';
import { collectYoungGarbage } from '../../src/platform/young-gc.js';
import { waitFor } from '../support/wait.js';

describe('collectYoungGarbage', () => {
  it('runs a young-generation collection then and there', async () => {
    const entries: PerformanceEntry[] = [];
    const observer = new PerformanceObserver((list) => entries.push(...list.getEntries()));
    observer.observe({ entryTypes: ['gc'] });
    try {
      const minorWithin = (from: number, to: number) =>
        entries.some((e) => (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR && e.startTime >= from && e.startTime <= to);
      for (let round = 0; round < 2; round += 1) {
        const from = performance.now();
        collectYoungGarbage();
        const to = performance.now();
        await waitFor(() => minorWithin(from, to), { timeoutMs: 2000, what: `a minor collection during call ${round + 1}` });
      }
      expect(entries.length).to.be.at.least(2);
    } finally {
      observer.disconnect();
    }
  });
});
