import { spawnSync } from 'node:child_process';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KUMA_DP_BIN, baseEnv } from '../test/support/kuma-dp.js';
import { Mirror } from '../test/support/mirror.js';
import { makeTempDir } from '../test/support/tmp.js';
import type { Figure } from './stats.js';
import { timeCommand, type Benchmark } from './support.js';

const VERSION = '1.34.1';
const ARTIFACT_BYTES = 60 * 1024 * 1024;

/**
 * 6. Install: `kuma-dp envoy install 1.34.1` from a loopback mirror (test/support/mirror.ts,
 * Envoy's release layout: the bare executable plus checksums.txt.asc) serving a 60 MB "Envoy" (a
 * shell script padded with a comment block, which answers --version like Envoy), into an empty
 * cache; against `curl -o` plus `sha256sum` of the same file. Runs alternate.
 * Then `kuma-dp envoy which 1.34.1` on the warm cache against a bare `node -e 0`.
 */
export const installBench: Benchmark = {
  name: 'install',
  title: 'Install a 60 MB Envoy from a loopback mirror; envoy which on a warm cache',
  async run(ctx) {
    const mirror = await Mirror.start();
    mirror.addRelease(VERSION, { padBytes: ARTIFACT_BYTES });
    const dir = makeTempDir('kuma-dp-bench-install');
    const url = `${mirror.origin}${mirror.releasePath(VERSION)}`;
    const installs: number[] = [];
    const curls: number[] = [];
    const whichs: number[] = [];
    const bare: number[] = [];
    let artifact = 0;
    try {
      const warmCache = join(dir, 'warm-cache');
      for (let i = -1; i < ctx.runs; i++) {
        const file = join(dir, 'curl-download');
        const curl = await timeCommand('curl', ['-sS', '--fail', '--noproxy', '*', '-o', file, url]);
        const sum = await timeCommand('sha256sum', [file]);
        artifact = statSync(file).size;
        rmSync(file);
        const cache = i < 0 ? warmCache : join(dir, `cache-${i}`);
        const env = baseEnv({ KUMA_DP_ENVOY_DOWNLOAD_BASE_URL: mirror.baseUrl, KUMA_DP_CACHE_DIR: cache });
        const install = await timeCommand(process.execPath, [KUMA_DP_BIN, 'envoy', 'install', VERSION], env);
        const installed = join(cache, 'envoy', VERSION, 'bin', 'envoy');
        if (statSync(installed).size !== artifact) throw new Error(`installed ${installed} is not the ${artifact}-byte artifact`);
        if (i < 0) continue;
        rmSync(cache, { recursive: true, force: true });
        installs.push(install);
        curls.push(curl + sum);
        ctx.log(`run ${i + 1}: kuma-dp envoy install ${install.toFixed(0)} ms; curl ${curl.toFixed(0)} + sha256sum ${sum.toFixed(0)} = ${(curl + sum).toFixed(0)} ms`);
      }

      const whichEnv = baseEnv({ KUMA_DP_CACHE_DIR: warmCache });
      const answer = spawnSync(process.execPath, [KUMA_DP_BIN, 'envoy', 'which', VERSION], { env: whichEnv, encoding: 'utf8' });
      const expected = join(warmCache, 'envoy', VERSION, 'bin', 'envoy');
      if (answer.status !== 0 || answer.stdout.trim() !== expected) {
        throw new Error(`envoy which printed ${JSON.stringify(answer.stdout)} (exit ${answer.status}), expected ${expected}; stderr: ${answer.stderr}`);
      }
      for (let i = -1; i < 2 * ctx.runs; i++) {
        const b = await timeCommand(process.execPath, ['-e', '0']);
        const w = await timeCommand(process.execPath, [KUMA_DP_BIN, 'envoy', 'which', VERSION], whichEnv);
        if (i < 0) continue;
        bare.push(b);
        whichs.push(w);
      }
      ctx.log(`envoy which: ${whichs.map((w) => w.toFixed(0)).join(', ')} ms; node -e 0: ${bare.map((b) => b.toFixed(0)).join(', ')} ms`);
    } finally {
      await mirror.close();
    }
    const figures: Figure[] = [
      {
        name: 'install-60MB',
        unit: 'ms',
        samples: installs,
        baseline: { name: 'curl+sha256sum', samples: curls },
        target: { kind: 'ratio-max', value: 1.3 },
        note: `${(artifact / 2 ** 20).toFixed(0)} MiB artifact, cold cache`,
      },
      {
        name: 'envoy-which-warm',
        unit: 'ms',
        samples: whichs,
        baseline: { name: 'node -e 0', samples: bare },
        target: { kind: 'ratio-max', value: 1.2 },
      },
    ];
    return figures;
  },
};
