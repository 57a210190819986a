import { expect } from 'chai';
import { eventsOf } from '../doubles/envoy-record.js';
import { waitFor } from '../support/wait.js';
import { cleanupTempDirs } from '../support/tmp.js';
import { processGone, type KumaDpProcess } from '../support/kuma-dp.js';
import { runFixture, type RunFixture } from '../support/run-fixture.js';
import type { KumaCpDoubleOptions } from '../doubles/kuma-cp-double.js';
import { killLeftovers, signalsReceived, start } from './support.js';

const CP_REFUSAL = "Dataplane Token is required. Generate token using 'kumactl generate dataplane-token > /path/file'";

interface Row {
  when: string;
  code: number;
  /** The one line before a non-zero exit; undefined: no error line at all. */
  line?: RegExp;
  envoyEnv?: NodeJS.ProcessEnv;
  cp?: KumaCpDoubleOptions;
  args?: string[];
  /** Envoy starts expected. */
  starts: number;
  /** What the test does to the running kuma-dp, if anything. */
  act?: (dp: KumaDpProcess, fx: RunFixture) => Promise<void>;
}

/** DESIGN.md §3, one row per path (the fixture runs with --envoy-restart never). */
const ROWS: Row[] = [
  {
    when: 'Envoy exits with 3 by itself',
    code: 3,
    line: /^Error: Envoy exited with code 3: .*envoy double: exiting with code 3$/,
    envoyEnv: { ENVOY_DOUBLE_EXIT_AFTER_MS: '300', ENVOY_DOUBLE_EXIT_CODE: '3' },
    starts: 1,
  },
  {
    when: 'Envoy exits with 0 by itself',
    code: 0,
    envoyEnv: { ENVOY_DOUBLE_EXIT_AFTER_MS: '300', ENVOY_DOUBLE_EXIT_CODE: '0' },
    starts: 1,
  },
  {
    when: 'Envoy crashes with SIGABRT',
    code: 128 + 6,
    line: /^Error: Envoy killed by SIGABRT: .*Caught Aborted, suspect faulting address/,
    envoyEnv: { ENVOY_DOUBLE_CRASH_AFTER_MS: '300', ENVOY_DOUBLE_CRASH_SIGNAL: 'SIGABRT' },
    starts: 1,
  },
  {
    when: 'Envoy is SIGKILLed from outside (the OOM killer)',
    code: 128 + 9,
    line: /^Error: Envoy killed by SIGKILL/,
    starts: 1,
    act: async (_dp, fx) => {
      process.kill(eventsOf(fx.record(), 'start')[0]!.pid, 'SIGKILL');
    },
  },
  {
    when: 'our drain after SIGTERM',
    code: 0,
    starts: 1,
    act: async (dp) => dp.signal('SIGTERM'),
  },
  {
    when: 'a bad flag (configuration error before Envoy)',
    code: 2,
    line: /^Error: --drain-time: invalid duration "soon"/,
    args: ['--drain-time', 'soon'],
    starts: 0,
  },
  {
    when: 'the control plane refuses the dataplane (422)',
    code: 1,
    line: new RegExp(`^Error: Failed to fetch Envoy bootstrap config from .*: Invalid request: ${CP_REFUSAL.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
    cp: { script: [{ status: 422, body: CP_REFUSAL }] },
    starts: 0,
  },
  {
    when: 'a third SIGINT while Envoy ignores SIGTERM',
    code: 128 + 2,
    line: /^Error: forced exit on a third SIGINT/,
    envoyEnv: { ENVOY_DOUBLE_IGNORE_SIGTERM: '1', ENVOY_DOUBLE_CONNECTIONS: 'x=1' },
    args: ['--drain-time', '20s'],
    starts: 1,
    act: async (dp, fx) => {
      dp.signal('SIGINT');
      await dp.waitForStderr(/waiting for connections to be drained/);
      dp.signal('SIGINT');
      await waitFor(() => signalsReceived(fx.record()).includes('SIGTERM'), { timeoutMs: 10_000, what: 'SIGTERM to Envoy after the second SIGINT' });
      dp.signal('SIGINT');
    },
  },
];

describe('exit codes (DESIGN §3)', function () {
  afterEach(killLeftovers);
  after(cleanupTempDirs);

  for (const row of ROWS) {
    it(`${row.when} → ${row.code}`, async () => {
      const fx = await runFixture({ envoyEnv: row.envoyEnv, cp: row.cp });
      try {
        const dp = start(fx, row.args ?? []);
        if (row.act) {
          await fx.waitLive(dp);
          await row.act(dp, fx);
        }
        const status = await dp.waitForExit(20_000);
        expect(status.code, dp.stderr()).to.equal(row.code);
        expect(eventsOf(fx.record(), 'start')).to.have.length(row.starts);

        const errorLines = dp.stderr().split('\n').filter((line) => line.startsWith('Error: '));
        if (row.line) {
          expect(errorLines, 'exactly one error line').to.have.length(1);
          expect(dp.stderr().trimEnd().split('\n').pop(), 'and it is the last line').to.match(row.line);
        } else {
          expect(errorLines).to.deep.equal([]);
        }
        if (row.starts > 0) {
          const envoyPid = eventsOf(fx.record(), 'start')[0]!.pid;
          expect(processGone(envoyPid), 'no Envoy left behind').to.equal(true);
        }
      } finally {
        await fx.close();
      }
    });
  }
});
