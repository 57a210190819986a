import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { expect } from 'chai';
import { collectAllGarbage, collectYoungGarbage, quietCollector } from '../../src/platform/gc.js';
import { waitFor } from '../support/wait.js';

/** Calls `collect` and waits for a collection of `kind` that started during the call. */
async function expectCollection(collect: () => void, kind: number, what: string): Promise<void> {
  const entries: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => entries.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  try {
    const from = performance.now();
    collect();
    const to = performance.now();
    const within = () => entries.some((e) => (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === kind && e.startTime >= from && e.startTime <= to);
    await waitFor(within, { timeoutMs: 2000, what });
  } finally {
    observer.disconnect();
  }
}

describe('platform/gc', () => {
  it('collectYoungGarbage runs a young-generation collection then and there, every time', async () => {
    for (let round = 1; round <= 2; round += 1) {
      await expectCollection(collectYoungGarbage, constants.NODE_PERFORMANCE_GC_MINOR, `a minor collection during call ${round}`);
    }
  });

  it('collectAllGarbage runs a full collection then and there', async () => {
    await expectCollection(collectAllGarbage, constants.NODE_PERFORMANCE_GC_MAJOR, 'a major collection during the call');
  });

  describe('quietCollector', () => {
    it('collects once, when the activity has been quiet for quietMs', async () => {
      const collections: number[] = [];
      // quietMs far above the 20 ms between activities: a loaded machine cannot stretch a gap into a quiet time.
      const collector = quietCollector({ quietMs: 250, maxWaitMs: 10_000, collect: () => collections.push(performance.now()) });
      let last = 0;
      for (let i = 0; i < 4; i += 1) {
        collector.activity();
        last = performance.now();
        // The activity itself: four bursts 20 ms apart.
        await delay(20);
      }
      await waitFor(() => collections.length > 0, { timeoutMs: 2000, what: 'the collection after the burst' });
      // Timers fire on whole milliseconds and may be late, never early by more than that.
      expect(collections[0]! - last, 'not before quietMs after the last activity').to.be.at.least(245);
      await waitFor(() => performance.now() - collections[0]! > 200, { timeoutMs: 2000, what: 'a while after it' });
      expect(collections, 'one collection for one burst').to.have.length(1);
    });

    it('collects at least every maxWaitMs while the activity goes on', async () => {
      const collections: number[] = [];
      // A quiet time that never comes: every collection here is one maxWaitMs forced.
      const collector = quietCollector({ quietMs: 10_000, maxWaitMs: 100, collect: () => collections.push(performance.now()) });
      const started = performance.now();
      try {
        while (performance.now() - started < 450) {
          collector.activity();
          await delay(10);
        }
        expect(collections.length, 'collections during a 450 ms burst with maxWaitMs 100').to.be.at.least(3);
      } finally {
        collector.stop();
      }
    });

    it('stop() cancels the pending collection', async () => {
      let collected = 0;
      const collector = quietCollector({ quietMs: 30, maxWaitMs: 1000, collect: () => (collected += 1) });
      collector.activity();
      collector.stop();
      const control = quietCollector({ quietMs: 60, maxWaitMs: 1000, collect: () => (collected += 10) });
      control.activity();
      // The control collector's own collection comes later than the stopped one would have.
      await waitFor(() => collected >= 10, { timeoutMs: 2000, what: 'the control collection' });
      expect(collected).to.equal(10);
    });
  });
});
