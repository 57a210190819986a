import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { eventsOf } from '../doubles/envoy-record.js';
import { waitFor, waitForExit } from '../support/wait.js';
import { cleanupTempDirs } from '../support/tmp.js';
import { runFixture, type RunFixture } from '../support/run-fixture.js';
import { killLeftovers, start } from './support.js';

/** Binds an AF_UNIX datagram socket and prints each datagram as one JSON line. */
const RECEIVER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("LISTENING", flush=True)
while True:
    print(json.dumps(s.recv(65536).decode()), flush=True)
`;

function available(command: string): boolean {
  const result = spawnSync(command, ['--version'], { stdio: 'ignore' });
  return !result.error && result.status === 0;
}

describe('systemd notifications from kuma-dp run (a real datagram socket)', function () {
  afterEach(killLeftovers);
  let fx: RunFixture;
  let receiver: ChildProcess;
  let output = '';

  before(function () {
    const missing = ['python3', 'systemd-notify'].find((command) => !available(command));
    if (missing) {
      console.log(`      skipped: ${missing} is not installed`);
      this.skip();
    }
  });
  beforeEach(async () => {
    fx = await runFixture();
    output = '';
    receiver = spawn('python3', ['-c', RECEIVER, join(fx.dir, 'notify.sock')], { stdio: ['ignore', 'pipe', 'inherit'] });
    receiver.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    await waitFor(() => output.startsWith('LISTENING\n'), { timeoutMs: 10_000, what: 'the receiver to bind' });
  });
  afterEach(async () => {
    receiver.kill('SIGKILL');
    await waitForExit(receiver, 5000);
    await fx.close();
  });
  after(cleanupTempDirs);

  /** Datagrams in arrival order, without systemd-notify's barriers. */
  function messages(): string[] {
    return output
      .split('\n')
      .slice(1)
      .filter(Boolean)
      .map((line) => JSON.parse(line) as string)
      .filter((message) => message !== 'BARRIER=1');
  }

  it('READY=1 once live, STATUS= with state, pid and restarts, STOPPING=1 then EXTEND_TIMEOUT_USEC= in the drain, WATCHDOG=1', async () => {
    const dp = start(fx, ['--drain-time', '1s', '--envoy-restart', 'auto'], {
      env: { NOTIFY_SOCKET: join(fx.dir, 'notify.sock'), WATCHDOG_USEC: '400000' },
    });
    await fx.waitLive(dp);
    await waitFor(() => messages().some((m) => m.includes('READY=1')), { timeoutMs: 10_000, what: 'READY=1' });
    await waitFor(() => messages().some((m) => m.includes('WATCHDOG=1')), { timeoutMs: 10_000, what: 'WATCHDOG=1' });
    dp.signal('SIGTERM');
    expect((await dp.waitForExit()).code).to.equal(0);
    await waitFor(() => messages().some((m) => m.includes('EXTEND_TIMEOUT_USEC=')), { timeoutMs: 10_000, what: 'EXTEND_TIMEOUT_USEC' });

    const all = messages();
    const envoyPid = eventsOf(fx.record(), 'start')[0]!.pid;
    for (const message of all) expect(message.split('\n')[0], 'sent on behalf of kuma-dp').to.equal(`MAINPID=${dp.pid}`);
    const index = (field: string) => all.findIndex((m) => m.split('\n').some((line) => line.startsWith(field)));

    const ready = all[index('READY=1')]!;
    expect(ready).to.include(`STATUS=Envoy live (pid ${envoyPid}); restarts 0`);
    expect(index('STATUS=Envoy starting'), 'starting is told before READY').to.be.below(index('READY=1'));
    expect(all.filter((m) => m.includes('READY=1')), 'READY=1 once').to.have.length(1);

    const stopping = all[index('STOPPING=1')]!;
    expect(stopping).to.include(`STATUS=draining Envoy (pid ${envoyPid})`);
    expect(index('READY=1')).to.be.below(index('STOPPING=1'));
    expect(index('STOPPING=1')).to.be.below(index('EXTEND_TIMEOUT_USEC='));
    const extend = Number(/EXTEND_TIMEOUT_USEC=(\d+)/.exec(all[index('EXTEND_TIMEOUT_USEC=')]!)![1]);
    expect(extend, 'covers the drain time at least').to.be.at.least(1_000_000);

    expect(index('WATCHDOG=1')).to.be.below(index('STOPPING=1'));
    expect(dp.stderr(), 'auto is never under systemd').to.match(/Envoy restart policy\tpolicy=never/);
  });
});
