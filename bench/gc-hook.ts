/**
 * Preloaded into kuma-dp by the memory benchmark only (NODE_OPTIONS=--expose-gc --import=...):
 * on SIGWINCH (ignored by kuma-dp otherwise) it runs a full GC and appends process.memoryUsage()
 * to $KUMA_DP_BENCH_GC_REPORT, so that heap growth per restart is measured without GC timing noise.
 */
import { appendFileSync } from 'node:fs';

const report = process.env.KUMA_DP_BENCH_GC_REPORT;
const gc = (globalThis as { gc?: () => void }).gc;
if (report && gc) {
  process.on('SIGWINCH', () => {
    gc();
    gc();
    appendFileSync(report, `${JSON.stringify(process.memoryUsage())}\n`);
  });
}
