import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '../../src/logging/logger.js';
import { createNotifier, notifyArguments, watchdogIntervalMs } from '../../src/platform/systemd.js';
import { waitFor, waitForExit } from '../support/wait.js';

/** Binds an AF_UNIX datagram socket (a leading @ means abstract) and prints each datagram as one JSON line. */
const RECEIVER = `
import json, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\\0" + path[1:] if path.startswith("@") else path)
print("LISTENING", flush=True)
while True:
    print(json.dumps(s.recv(65536).decode()), flush=True)
`;

function available(command: string, args: string[]): boolean {
  const result = spawnSync(command, args, { stdio: 'ignore' });
  return !result.error && result.status === 0;
}

class Receiver {
  output = '';
  private constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.output += chunk));
  }

  static async start(socket: string): Promise<Receiver> {
    const receiver = new Receiver(spawn('python3', ['-c', RECEIVER, socket], { stdio: ['ignore', 'pipe', 'inherit'] }));
    await waitFor(() => receiver.output.startsWith('LISTENING\n'), { timeoutMs: 5000, what: 'the python receiver to bind' });
    return receiver;
  }

  /** Datagrams received, without the barrier messages systemd-notify adds. */
  messages(): string[] {
    return this.output
      .split('\n')
      .slice(1)
      .filter(Boolean)
      .map((line) => JSON.parse(line) as string)
      .filter((message) => message !== 'BARRIER=1');
  }

  async stop(): Promise<void> {
    this.child.kill('SIGKILL');
    await waitForExit(this.child, 5000);
  }
}

describe('systemd notifications', () => {
  let dir: string;
  let logPath: string;
  let logger: Logger;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kuma-dp-sd-'));
    logPath = join(dir, 'log.json');
    logger = Logger.create({ level: 'debug', format: 'json', outputPath: logPath });
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function warnings(): string[] {
    return readFileSync(logPath, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { level: string; message: string })
      .filter((entry) => entry.level === 'warn')
      .map((entry) => entry.message);
  }

  describe('over a real datagram socket', function () {
    before(function () {
      const missing = ['python3', 'systemd-notify'].find((command) => !available(command, ['--version']));
      if (missing) {
        console.log(`      skipped: ${missing} is not installed (python3 binds the datagram socket, systemd-notify sends)`);
        this.skip();
      }
    });

    for (const kind of ['path', 'abstract'] as const) {
      it(`delivers READY=1, STATUS=, STOPPING=1 in order to a ${kind} socket`, async () => {
        const socket = kind === 'path' ? join(dir, 'notify.sock') : `@kuma-dp-test-${randomBytes(6).toString('hex')}`;
        const receiver = await Receiver.start(socket);
        try {
          const notifier = createNotifier({ env: { PATH: process.env.PATH, NOTIFY_SOCKET: socket }, logger });
          expect(notifier.enabled).to.equal(true);
          // Not awaited one by one: the notifier itself must keep the order.
          await Promise.all([
            notifier.notify({ READY: '1', STATUS: 'Envoy is LIVE, pid 42' }),
            notifier.notify({ STATUS: 'draining\nFORGED=1' }),
            notifier.notify({ STOPPING: '1' }),
          ]);
          await waitFor(() => receiver.messages().length >= 3, { timeoutMs: 5000, what: 'three notifications' });
          expect(receiver.messages()).to.deep.equal([
            `MAINPID=${process.pid}\nREADY=1\nSTATUS=Envoy is LIVE, pid 42`,
            `MAINPID=${process.pid}\nSTATUS=draining FORGED=1`,
            `MAINPID=${process.pid}\nSTOPPING=1`,
          ]);
          expect(warnings()).to.deep.equal([]);
        } finally {
          await receiver.stop();
        }
      });
    }
  });

  it('is a no-op without NOTIFY_SOCKET', async () => {
    const notifier = createNotifier({ env: { WATCHDOG_USEC: '2000000' }, logger, binary: join(dir, 'missing-systemd-notify') });
    expect(notifier.enabled).to.equal(false);
    expect(notifier.watchdogIntervalMs).to.equal(undefined);
    await notifier.notify({ READY: '1' });
    // It never tried to run the (missing) binary, or it would have warned.
    expect(warnings()).to.deep.equal([]);
  });

  it('warns once and turns itself off when systemd-notify is missing', async () => {
    const notifier = createNotifier({ env: { NOTIFY_SOCKET: join(dir, 'notify.sock') }, logger, binary: join(dir, 'missing-systemd-notify') });
    expect(notifier.enabled).to.equal(true);
    await notifier.notify({ READY: '1' });
    await notifier.notify({ STOPPING: '1' });
    expect(notifier.enabled).to.equal(false);
    expect(warnings()).to.deep.equal(['systemd-notify not found; systemd notifications are off']);
  });

  it('rejects field names systemd would not accept', () => {
    expect(() => notifyArguments({ 'ready=1\nX': '1' })).to.throw(TypeError);
    expect(notifyArguments({ EXTEND_TIMEOUT_USEC: '30000000', STATUS: 'a\r\nb' })).to.deep.equal(['EXTEND_TIMEOUT_USEC=30000000', 'STATUS=a b']);
  });

  it('pings the watchdog at half of WATCHDOG_USEC when it is meant for us', () => {
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' }, 100)).to.equal(15_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '100' }, 100)).to.equal(15_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '101' }, 100)).to.equal(undefined);
    expect(watchdogIntervalMs({}, 100)).to.equal(undefined);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '0' }, 100)).to.equal(undefined);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: 'soon' }, 100)).to.equal(undefined);
    const notifier = createNotifier({ env: { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '3000000' }, logger, pid: 7 });
    expect(notifier.watchdogIntervalMs).to.equal(1500);
  });
});
