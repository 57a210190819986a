import { join } from 'node:path';
import { eventsOf, readRecord } from '../test/doubles/envoy-record.js';
import { getReady, processGone } from '../test/support/kuma-dp.js';
import type { Figure } from './stats.js';
import { Rig, bareNodeRss, now, pssMb, rssMb, sleep, spawnKumaDp, until, type Benchmark, type DpProcess } from './support.js';

const INSTANCES = 20;

/**
 * 7. Density: 20 kuma-dp instances on one host, one kuma-cp double, each with its own work dir and
 * readiness port. Once every instance answers 200 on /ready (Envoy live), and after 1 s more,
 * the RSS and PSS of each kuma-dp process (PSS splits the pages shared by all the node processes,
 * so it is the honest cost per instance). Then SIGTERM to all at once: every kuma-dp must exit 0
 * and every Envoy must be gone. One round (the 20 instances are the samples); baseline: an idle
 * bare node process.
 */
export const densityBench: Benchmark = {
  name: 'density',
  title: `Density: ${INSTANCES} kuma-dp instances on one host`,
  async run(ctx) {
    const rig = await Rig.start('density');
    const instances: { dp: DpProcess; record: string; port: number }[] = [];
    const rss: number[] = [];
    const pss: number[] = [];
    let drainMs = NaN;
    const failures: string[] = [];
    const bare: number[] = [];
    try {
      const t0 = now();
      for (let i = 0; i < INSTANCES; i++) {
        const dir = rig.runDir(`instance-${i}`);
        const record = join(dir, 'record');
        const env = await rig.env({ ENVOY_DOUBLE_RECORD: record, KUMA_CONTROL_PLANE_RETRY_MAX_DURATION: '60s' });
        instances.push({ dp: spawnKumaDp(rig.args(join(dir, 'work'), ['--drain-time', '5s', '--min-drain-time', '0s']), env), record, port: Number(env.KUMA_READINESS_PORT) });
      }
      await until(
        async () => (await Promise.all(instances.map((i) => getReady(i.port).then((r) => r.status === 200, () => false)))).every(Boolean),
        `all ${INSTANCES} instances ready`,
        120_000,
        200,
      ).catch((err: Error) => {
        const stuck = instances.find((i) => !eventsOf(readRecord(i.record), 'live').length);
        throw new Error(`${err.message}${stuck ? `; e.g. kuma-dp ${stuck.dp.pid} stderr:\n${stuck.dp.stderr()}` : ''}`);
      });
      ctx.log(`${INSTANCES} instances ready ${((now() - t0) / 1000).toFixed(1)} s after the first spawn`);
      await sleep(1000);
      const ended = instances.find((i) => i.dp.child.exitCode !== null || i.dp.child.signalCode !== null);
      // Its /proc entry is gone: say which one ended and why, not that a file is missing.
      if (ended) throw new Error(`kuma-dp ${ended.dp.pid} ended (${ended.dp.child.exitCode ?? ended.dp.child.signalCode}) while the others ran; stderr:\n${ended.dp.stderr()}`);
      for (const i of instances) {
        rss.push(rssMb(i.dp.pid));
        pss.push(pssMb(i.dp.pid));
      }
      const envoyPids = instances.map((i) => eventsOf(readRecord(i.record), 'start').map((e) => e.pid)).flat();
      const stopAt = now();
      for (const i of instances) i.dp.child.kill('SIGTERM');
      const statuses = await Promise.all(instances.map((i) => Promise.race([i.dp.exited, sleep(30_000).then(() => undefined)])));
      drainMs = now() - stopAt;
      statuses.forEach((s, k) => {
        if (!s) failures.push(`kuma-dp ${instances[k]!.dp.pid} still running 30 s after SIGTERM`);
        else if (s.code !== 0) failures.push(`kuma-dp ${instances[k]!.dp.pid} exited ${s.code ?? s.signal}: ${instances[k]!.dp.stderr().trim().split('\n').pop()}`);
      });
      await until(() => envoyPids.every(processGone), 'every Envoy gone', 5000, 20).catch(() => {
        failures.push(`Envoys still running: ${envoyPids.filter((p) => !processGone(p)).join(', ')}`);
      });
      ctx.log(`SIGTERM to all: ${statuses.filter((s) => s?.code === 0).length}/${INSTANCES} exited 0 within ${drainMs.toFixed(0)} ms; ${envoyPids.filter(processGone).length}/${envoyPids.length} Envoys gone`);
      for (let i = 0; i < 3; i++) bare.push(await bareNodeRss());
    } finally {
      await rig.close();
    }
    const baseline = { name: 'bare node', samples: bare };
    return [
      { name: 'density-rss', unit: 'MB', samples: rss, baseline, target: { kind: 'max', value: 60, of: 'max' }, note: `${INSTANCES} instances, VmRSS` },
      { name: 'density-pss', unit: 'MB', samples: pss, target: { kind: 'info' }, note: 'PSS: pages shared by the node processes split among them' },
      {
        name: 'density-drain',
        unit: 'ms',
        samples: [drainMs],
        target: {
          kind: 'check',
          ok: failures.length === 0,
          detail: failures.length === 0 ? `all ${INSTANCES} exited 0 and every Envoy is gone` : failures.slice(0, 3).join('; '),
        },
      },
    ] satisfies Figure[];
  },
};
