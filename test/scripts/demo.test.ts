import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, symlinkSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { baseEnv, processGone } from '../support/kuma-dp.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';
import { waitFor, waitForExit } from '../support/wait.js';

const DEMO = fileURLToPath(new URL('../../scripts/demo.js', import.meta.url));

interface Demo {
  child: ChildProcess;
  output(): string;
}

function startDemo(args: string[], env: NodeJS.ProcessEnv = baseEnv(), cwd?: string): Demo {
  // stdin is a pipe, not a TTY: the demo drains by itself instead of waiting for Ctrl-C.
  const child = spawn(process.execPath, [DEMO, ...args], { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output };
}

const match = (text: string, pattern: RegExp): string => {
  const found = pattern.exec(text);
  expect(found, `${pattern} in:\n${text}`).to.not.equal(null);
  return found![1]!;
};

describe('npm run demo', function () {
  const started: Demo[] = [];

  afterEach(function () {
    for (const demo of started.splice(0)) if (demo.child.exitCode === null) demo.child.kill('SIGKILL');
    cleanupTempDirs();
  });

  it('runs end to end with --simulated-envoy, narrating every step, drains by itself without a TTY and exits 0', async function () {
    this.timeout(35_000);
    const demo = startDemo(['--simulated-envoy']);
    started.push(demo);
    const { code } = await waitForExit(demo.child, 30_000);
    const out = demo.output();
    expect(code, out).to.equal(0);
    for (const step of [
      /Envoy: simulated Envoy \(test double\), no traffic flows through it/,
      / 1\. Dev control plane up: POST \/bootstrap on http:\/\/127\.0\.0\.1:\d+, ADS \(gRPC\) on http:\/\/127\.0\.0\.1:\d+/,
      / 2\. Example app up on http:\/\/127\.0\.0\.1:\d+\//,
      / 3\. Started kuma-dp \(pid \d+\)/,
      / 4\. Bootstrap fetched: kuma-dp sent POST \/bootstrap for default\.demo-1 \(token in the body\)/,
      / 5\. Envoy started, pid \d+ \(simulated Envoy \(test double\)/,
      / 6\. Envoy's ADS stream reached the dev control plane: node default\.demo-1, token present/,
      /sent Listener: demo-listener/,
      / 7\. Ready: GET http:\/\/127\.0\.0\.1:\d+\/ready -> 200 LIVE/,
      / 8\. No request through Envoy: this is the simulated Envoy \(test double\)/,
      /admin API instead: GET \/ready on unix socket .* -> 200 LIVE/,
      / 9\. Drain: stdin is not a terminal, so .* sends SIGTERM to kuma-dp/,
      /readiness now says 503 TERMINATING/,
      /Envoy \(pid \d+\) stopped/,
      /kuma-dp exited with code 0/,
      /Done: every step happened/,
    ]) {
      expect(out).to.match(step);
    }
    expect(existsSync(match(out, /temporary files in (\S+)/)), 'temp dir removed').to.equal(false);
    expect(processGone(Number(match(out, /Started kuma-dp \(pid (\d+)\)/)))).to.equal(true);
  });

  it('with a real Envoy (ENVOY_BIN), sends a request through Envoy\'s listener to the example app', async function () {
    if (!process.env.ENVOY_BIN) this.skip();
    this.timeout(35_000);
    const bin = makeTempDir('demo-envoy-bin');
    symlinkSync(process.env.ENVOY_BIN!, join(bin, 'envoy'));
    const demo = startDemo([], baseEnv({ PATH: [bin, process.env.PATH].join(delimiter) }));
    started.push(demo);
    const { code } = await waitForExit(demo.child, 30_000);
    expect(code, demo.output()).to.equal(0);
    expect(demo.output()).to.match(/Request through Envoy's listener: GET http:\/\/127\.0\.0\.1:\d+\/ -> 200 "hello from the kuma-dp demo app/);
    expect(demo.output()).to.not.match(/simulated/);
  });

  it('stops everything it started when interrupted before the drain, and exits non-zero', async function () {
    this.timeout(35_000);
    const demo = startDemo(['--simulated-envoy']);
    started.push(demo);
    const envoyPid = Number(
      await waitFor(() => /Envoy started, pid (\d+)/.exec(demo.output())?.[1], { timeoutMs: 20_000, what: `Envoy to start:\n${demo.output()}` }),
    );
    const kumaDpPid = Number(match(demo.output(), /Started kuma-dp \(pid (\d+)\)/));
    demo.child.kill('SIGTERM');
    const { code } = await waitForExit(demo.child, 15_000);
    expect(code, demo.output()).to.equal(130);
    expect(demo.output()).to.match(/SIGTERM: stopping everything the demo started/);
    expect(processGone(envoyPid), 'Envoy gone').to.equal(true);
    expect(processGone(kumaDpPid), 'kuma-dp gone').to.equal(true);
    expect(existsSync(match(demo.output(), /temporary files in (\S+)/)), 'temp dir removed').to.equal(false);
  });

  it('without a real Envoy and without --simulated-envoy, says so and points at --simulated-envoy, exit 1', async function () {
    this.timeout(20_000);
    // Only node's own directory and the system dirs on PATH, an empty cache, and a cwd without ./envoy.
    const path = [dirname(process.execPath), '/usr/bin', '/bin'].join(delimiter);
    if (path.split(delimiter).some((dir) => existsSync(join(dir, 'envoy')))) this.skip();
    const cwd = makeTempDir('demo-no-envoy');
    const demo = startDemo([], baseEnv({ PATH: path, KUMA_DP_CACHE_DIR: join(cwd, 'cache') }), cwd);
    started.push(demo);
    const { code } = await waitForExit(demo.child, 15_000);
    expect(code).to.equal(1);
    expect(demo.output()).to.match(/no Envoy binary found/);
    expect(demo.output()).to.include('npm run demo -- --simulated-envoy');
    expect(demo.output()).to.not.match(/Dev control plane up/);
  });
});
