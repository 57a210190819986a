import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { runKumaDp, spawnKumaDp } from '../support/kuma-dp.js';
import { makeTempDir } from '../support/tmp.js';
import { buildInfo } from '../../src/version.js';

describe('kuma-dp version, wait and the root command', function () {
  it('prints help and exits 0 without a subcommand, like kuma-dp', async () => {
    const result = await runKumaDp([]);
    expect(result.code).to.equal(0);
    expect(result.stdout).to.include('Usage: kuma-dp');
  });

  it('every way of asking for help sees every command, and root flags before a command still reach it', async () => {
    const env = { env: { PATH: process.env.PATH, COLUMNS: '100' } };
    const rootHelp = (await runKumaDp(['--help'], env)).stdout;
    for (const name of ['run', 'wait', 'version', 'envoy', 'bootstrap']) expect(rootHelp).to.match(new RegExp(`^  ${name}\\b`, 'm'));
    expect((await runKumaDp(['help'], env)).stdout).to.equal(rootHelp);
    const runHelp = (await runKumaDp(['run', '--help'], env)).stdout;
    expect(runHelp).to.include('--cp-address');
    expect((await runKumaDp(['help', 'run'], env)).stdout).to.equal(runHelp);
    expect((await runKumaDp(['--log-level', 'debug', '--log-format=json', 'run', '--help'], env)).stdout, 'root flags before the command').to.equal(runHelp);
  });

  it('version prints "<product>: <version>", and -a the build details', async () => {
    const short = await runKumaDp(['version']);
    expect(short.stdout).to.equal(`Kuma DP: ${buildInfo().version}\n`);
    const detailed = await runKumaDp(['version', '-a']);
    expect(detailed.stdout).to.match(/^Product: +Kuma DP$/m).and.to.match(/^Git Tag: +v/m);
  });

  it('rejects an unknown --log-level with exit 2 and one line', async () => {
    const result = await runKumaDp(['--log-level', 'loud', 'version']);
    expect(result.code).to.equal(2);
    expect(result.stderr.trim()).to.match(/^Error: unknown log level "loud"/);
  });

  it("commander's refusals are one line naming the refused command; a misspelt flag's value is not echoed", async () => {
    const cases: [string[], string][] = [
      [['run', '--cp-adress', 'x'], "Error: unknown option '--cp-adress' (Did you mean --cp-address?); see 'kuma-dp run --help'"],
      [['--log-format', 'text', 'run', '--bogus'], "Error: unknown option '--bogus'; see 'kuma-dp run --help'"],
      [['envoy', 'which', '--bogus'], "Error: unknown option '--bogus'; see 'kuma-dp envoy which --help'"],
      [['run', '--dataplane-tokn=SECRETTOKEN'], "Error: unknown option '--dataplane-tokn=…'; see 'kuma-dp run --help'"],
      [['bogus'], "Error: unknown command 'bogus'; see 'kuma-dp --help'"],
    ];
    for (const [args, line] of cases) {
      const result = await runKumaDp(args);
      expect({ code: result.code, stderr: result.stderr }, args.join(' ')).to.deep.equal({ code: 2, stderr: `${line}\n` });
    }
  });

  it('--log-output-path is announced on stdout for run only: an answer on stdout stays the answer', async () => {
    const log = join(makeTempDir('kdp-logpath'), 'kuma-dp.log');
    const result = await runKumaDp(['--log-output-path', log, 'version']);
    expect(result.stdout).to.equal(`Kuma DP: ${buildInfo().version}\n`);
  });

  describe('wait', () => {
    let server: Server;
    let ready = false;
    let port = 0;
    before(async () => {
      server = createServer((req, res) => {
        res.statusCode = req.url === '/ready' && ready ? 200 : 503;
        res.end(ready ? 'READY' : 'NOT READY');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as { port: number }).port;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('polls until /ready answers 200, then exits 0', async () => {
      ready = false;
      const proc = spawnKumaDp(['wait', '--url', `http://127.0.0.1:${port}/ready`, '--check-frequency', '50ms', '--timeout', '10s']);
      await proc.waitForStderr(/data plane proxy is not ready/);
      ready = true;
      expect((await proc.waitForExit()).code).to.equal(0);
    });

    it('gives up after --timeout with exit 1 and the kuma-dp message', async () => {
      ready = false;
      const result = await runKumaDp(['wait', '--url', `http://127.0.0.1:${port}/ready`, '--check-frequency', '50ms', '--timeout', '300ms']);
      expect(result.code).to.equal(1);
      expect(result.stderr.trim().split('\n').at(-1)).to.match(/timeout occurred while waiting for data plane proxy to be ready/);
    });

    it('refuses a non-local URL with exit 2', async () => {
      const result = await runKumaDp(['wait', '--url', 'http://example.com/ready']);
      expect(result.code).to.equal(2);
    });
  });
});
