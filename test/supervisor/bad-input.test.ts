import { expect } from 'chai';
import { eventsOf } from '../doubles/envoy-record.js';
import { useRunFixture } from '../support/run-fixture.js';
import { killLeftovers, start } from './support.js';

/** Malformed supervision settings: exit 2 with one line naming the flag (or env var), before anything starts. */
const ROWS: { args: string[]; env?: NodeJS.ProcessEnv; line: RegExp }[] = [
  { args: ['--envoy-restart', 'sometimes'], line: /--envoy-restart must be one of auto, never, on-failure, always, got "sometimes"/ },
  { args: [], env: { KUMA_DATAPLANE_RUNTIME_ENVOY_RESTART_WINDOW: 'ten minutes' }, line: /KUMA_DATAPLANE_RUNTIME_ENVOY_RESTART_WINDOW: invalid duration "ten minutes"/ },
  { args: ['--envoy-restart-backoff', 'soon'], line: /--envoy-restart-backoff: invalid duration "soon"/ },
  { args: ['--envoy-restart-backoff', '0s'], line: /--envoy-restart-backoff must be greater than 0/ },
  { args: ['--envoy-restart-max-backoff', '10'], line: /--envoy-restart-max-backoff: invalid duration "10"/ },
  { args: ['--envoy-restart-backoff', '5s', '--envoy-restart-max-backoff', '1s'], line: /--envoy-restart-max-backoff \(1s\) must not be shorter than --envoy-restart-backoff \(5s\)/ },
  { args: ['--envoy-restart-window', '-1m'], line: /--envoy-restart-window: invalid duration "-1m"/ },
  { args: ['--envoy-restart-window', '0'], line: /--envoy-restart-window must be greater than 0/ },
  { args: ['--envoy-max-restarts', 'many'], line: /--envoy-max-restarts must be a whole number from 0 to 1000, got "many"/ },
  { args: ['--envoy-max-restarts', '-1'], line: /--envoy-max-restarts must be a whole number/ },
  { args: ['--min-drain-time', 'a while'], line: /--min-drain-time: invalid duration "a while"/ },
  { args: ['--envoy-output', 'xml'], line: /--envoy-output must be one of raw, tagged, json, got "xml"/ },
];

describe('bad supervision settings exit 2 with one line', function () {
  afterEach(killLeftovers);
  const fx = useRunFixture();

  for (const { args, env, line } of ROWS) {
    it(args.length ? args.join(' ') : Object.entries(env!).map(([k, v]) => `${k}=${v}`).join(' '), async () => {
      const dp = start(fx(), args, { env });
      const status = await dp.waitForExit();
      expect(status.code).to.equal(2);
      const lines = dp.stderr().trimEnd().split('\n');
      expect(lines, dp.stderr()).to.have.length(1);
      expect(lines[0]).to.match(/^Error: /).and.to.match(line);
      expect(lines[0], 'one problem, not its echoes').not.to.match(/configuration problems/);
      expect(fx().cp.requests, 'nothing was asked of the control plane').to.have.length(0);
      expect(eventsOf(fx().record(), 'start')).to.have.length(0);
    });
  }
});
