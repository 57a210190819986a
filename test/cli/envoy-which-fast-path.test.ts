import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { baseEnv, KUMA_DP_BIN, runKumaDp } from '../support/kuma-dp.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';
import { packageCopy } from '../support/package-copy.js';
import { writeExecutable } from '../support/executable.js';

const executable = (path: string): string => writeExecutable(path, '#!/bin/sh\necho envoy\n');

/** A cache with managed 1.33.2, 1.34.1 and 1.34.10, and a directory holding an `envoy` to put on PATH. */
function fixture() {
  const cache = makeTempDir('kdp-which');
  for (const version of ['1.33.2', '1.34.1', '1.34.10']) executable(join(cache, 'envoy', version, 'bin', 'envoy'));
  const pathDir = join(cache, 'on-path');
  const onPath = executable(join(pathDir, 'envoy'));
  const cwd = makeTempDir('kdp-which-cwd');
  return { cache, pathDir, onPath, cwd };
}

describe('kuma-dp envoy which: the fast path', function () {
  this.timeout(20_000);
  after(cleanupTempDirs);

  it('answers exactly as the full CLI does: same stdout, stderr and exit code', async () => {
    const { cache, pathDir, onPath, cwd } = fixture();
    const env = (extra: Record<string, string> = {}) => baseEnv({ KUMA_DP_CACHE_DIR: cache, PATH: '/nonexistent', ...extra });
    const cases: { args: string[]; env: NodeJS.ProcessEnv; stdout?: string; code: number }[] = [
      { args: ['1.34.1'], env: env(), stdout: `${join(cache, 'envoy', '1.34.1', 'bin', 'envoy')}\n`, code: 0 },
      { args: ['1.34'], env: env(), stdout: `${join(cache, 'envoy', '1.34.10', 'bin', 'envoy')}\n`, code: 0 },
      { args: ['latest'], env: env(), stdout: `${join(cache, 'envoy', '1.34.10', 'bin', 'envoy')}\n`, code: 0 },
      { args: [], env: env(), stdout: `${join(cache, 'envoy', '1.34.10', 'bin', 'envoy')}\n`, code: 0 },
      { args: [], env: env({ PATH: pathDir }), stdout: `${onPath}\n`, code: 0 },
      { args: [], env: env({ KUMA_DATAPLANE_RUNTIME_ENVOY_VERSION: '1.33' }), stdout: `${join(cache, 'envoy', '1.33.2', 'bin', 'envoy')}\n`, code: 0 },
      { args: [], env: env({ KUMA_DATAPLANE_RUNTIME_BINARY_PATH: onPath }), stdout: `${onPath}\n`, code: 0 },
      { args: ['1.35.0'], env: env(), code: 2 },
      { args: ['x'], env: env(), code: 2 },
      { args: [], env: env({ KUMA_DATAPLANE_RUNTIME_BINARY_PATH: join(cwd, 'missing') }), code: 2 },
      { args: [], env: env({ KUMA_DATAPLANE_RUNTIME_ENVOY_VERSION: 'nope' }), code: 2 },
      { args: [], env: env({ KUMA_DP_DOWNLOAD_RETRIES: 'many' }), code: 2 },
      // As `run` refuses it: two answers to "which Envoy".
      { args: [], env: env({ KUMA_DATAPLANE_RUNTIME_BINARY_PATH: onPath, KUMA_DATAPLANE_RUNTIME_ENVOY_VERSION: '1.34.1' }), code: 2 },
    ];
    for (const c of cases) {
      const fast = await runKumaDp(['envoy', 'which', ...c.args], { env: c.env, cwd });
      // Any root option sends the command through commander.
      const full = await runKumaDp(['--log-format', 'text', 'envoy', 'which', ...c.args], { env: c.env, cwd });
      const label = `envoy which ${c.args.join(' ')} with ${JSON.stringify(c.env)}`;
      expect(fast.code, `${label}: ${fast.stderr}`).to.equal(c.code);
      if (c.stdout !== undefined) expect(fast.stdout, label).to.equal(c.stdout);
      else expect(fast.stderr, label).to.match(/^Error: \S.*\n$/);
      expect({ stdout: fast.stdout, stderr: fast.stderr, code: fast.code }, label).to.deep.equal({ stdout: full.stdout, stderr: full.stderr, code: full.code });
    }
  });

  it('an answer nobody reads any more is one line on stderr and exit 1, through either path', async () => {
    const { cache } = fixture();
    for (const args of [['envoy', 'which', '1.34.1'], ['--log-format', 'text', 'envoy', 'which', '1.34.1']]) {
      // A FIFO whose only reader is gone: the first write fails with EPIPE, every time.
      const fifo = join(makeTempDir('kdp-fifo'), 'out');
      execFileSync('mkfifo', [fifo]);
      const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
      const writer = openSync(fifo, 'w');
      closeSync(reader);
      try {
        const result = spawnSync(process.execPath, [KUMA_DP_BIN, ...args], { env: baseEnv({ KUMA_DP_CACHE_DIR: cache }), stdio: ['ignore', writer, 'pipe'], encoding: 'utf8' });
        expect({ code: result.status, stderr: result.stderr }, args.join(' ')).to.deep.equal({
          code: 1,
          stderr: 'Error: could not write the answer: the reader of stdout has closed it\n',
        });
      } finally {
        closeSync(writer);
      }
    }
  });

  it('envoy which and envoy list refuse --binary-path next to --envoy-version, as run does', async () => {
    const { cache, onPath } = fixture();
    const env = baseEnv({ KUMA_DP_CACHE_DIR: cache });
    for (const command of [['which'], ['list']]) {
      const result = await runKumaDp(['envoy', ...command, '--binary-path', onPath, '--envoy-version', '1.34.1'], { env });
      expect({ code: result.code, stdout: result.stdout, stderr: result.stderr }, command[0]).to.deep.equal({
        code: 2,
        stdout: '',
        stderr: 'Error: --binary-path and --envoy-version both choose the Envoy to run; give only one of them\n',
      });
    }
  });

  it('bin/kuma-dp takes it for the plain form only, and never loads the full CLI for it', () => {
    // A copy of the package whose full CLI cannot load: only the fast path can answer.
    const { bin } = packageCopy({
      replace: { 'main.wrapped.js': "(function (exports) { exports.main = () => { process.stderr.write('full CLI\\n'); process.exitCode = 42; }; })\n" },
    });
    const { cache } = fixture();
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [bin, ...args], { env: baseEnv({ KUMA_DP_CACHE_DIR: cache }), encoding: 'utf8' });
    const plain = run('envoy', 'which', '1.34.1');
    expect({ code: plain.status, stdout: plain.stdout, stderr: plain.stderr }).to.deep.equal({
      code: 0,
      stdout: `${join(cache, 'envoy', '1.34.1', 'bin', 'envoy')}\n`,
      stderr: '',
    });
    for (const args of [['envoy', 'which', '--help'], ['envoy', 'which', '--binary-path', '/x'], ['envoy', 'which', '1.34.1', 'extra'], ['envoy', 'list'], ['version']]) {
      const other = run(...args);
      expect({ code: other.status, stderr: other.stderr }, args.join(' ')).to.deep.equal({ code: 42, stderr: 'full CLI\n' });
    }
  });
});
