import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { expect } from 'chai';
import { processGone, runKumaDp } from '../support/kuma-dp.js';
import { packageCopy } from '../support/package-copy.js';
import { runFixture, TOKEN, useRunFixture } from '../support/run-fixture.js';
import { defaultBootstrapYaml } from '../doubles/kuma-cp-double.js';
import { waitFor } from '../support/wait.js';
import { writeExecutable } from '../support/executable.js';
import { shellQuote } from '../doubles/envoy-binary.js';
import { cliCodeCacheFile } from '../../src/cli/launcher.js';

const cacheName = (command: 'run' | 'cli', bundleDir: string) => basename(cliCodeCacheFile(bundleDir, command)!);

/** The code caches in a bundle dir; the memos of what binaries answered (JSON) live there too. */
const codeCaches = (bundleDir: string): string[] =>
  existsSync(join(bundleDir, 'code-cache')) ? readdirSync(join(bundleDir, 'code-cache')).filter((name) => !name.endsWith('.json')) : [];

describe('bin/kuma-dp launcher: code cache and early start', function () {
  this.timeout(30_000);
  const fx = useRunFixture({ each: true });

  it('bin/kuma-dp takes dist/src when it was compiled after the bundle was built, the bundle otherwise', async () => {
    const { root, bin } = packageCopy();
    const unbundled = join(root, 'dist', 'src', 'cli', 'main.js');
    mkdirSync(join(unbundled, '..'), { recursive: true });
    writeFileSync(unbundled, "export function main() { process.stderr.write('unbundled\\n'); process.exitCode = 43; }\n");
    const newer = await runKumaDp(['version'], { bin });
    expect({ code: newer.code, stderr: newer.stderr }, 'dist/src newer than the bundle').to.deep.equal({ code: 43, stderr: 'unbundled\n' });
    const past = new Date(Date.now() - 3_600_000 * 24 * 365);
    utimesSync(unbundled, past, past);
    const older = await runKumaDp(['version'], { bin });
    expect({ code: older.code, stderr: older.stderr }, 'dist/src older than the bundle').to.deep.equal({ code: 0, stderr: '' });
    expect(older.stdout).to.match(/^Kuma DP: /);
  });

  it('bin/kuma-dp without any build says so in one line, and how to build it', async () => {
    const { root, bin } = packageCopy();
    rmSync(join(root, 'dist'), { recursive: true });
    const result = await runKumaDp(['version'], { bin });
    expect(result.code).to.equal(1);
    expect(result.stderr).to.match(/^kuma-dp: cannot start: Cannot find module '\.\.\/dist\/bundle\/launcher\.cjs'\. Run `npm ci` in the kuma-dp checkout to build it\.\n$/);
  });

  it("writes a command's code cache when it exits, leaves a usable one alone and rewrites one V8 refuses", async () => {
    const { bin, bundleDir } = packageCopy();
    const cache = join(bundleDir, 'code-cache', cacheName('cli', bundleDir));
    const first = await runKumaDp(['version'], { bin });
    expect({ code: first.code, stderr: first.stderr }).to.deep.equal({ code: 0, stderr: '' });
    expect(statSync(cache).size, 'cache size').to.be.above(10_000);
    expect(statSync(cache).mode & 0o622, 'owner-writable, nobody else').to.equal(0o600);

    const past = new Date(Date.now() - 3_600_000);
    utimesSync(cache, past, past);
    const second = await runKumaDp(['version'], { bin });
    expect(second.stdout).to.equal(first.stdout);
    expect(Math.round(statSync(cache).mtimeMs), 'a cache V8 took is not written again').to.equal(past.getTime());

    writeFileSync(cache, 'not a V8 code cache');
    const third = await runKumaDp(['version'], { bin });
    expect({ code: third.code, stdout: third.stdout, stderr: third.stderr }).to.deep.equal({ code: 0, stdout: first.stdout, stderr: '' });
    expect(readFileSync(cache).subarray(0, 19).toString(), 'the refused cache was replaced').not.to.equal('not a V8 code cache');
    expect(statSync(cache).size).to.be.above(10_000);
    expect(readdirSync(join(bundleDir, 'code-cache')), 'no staging file left').to.deep.equal([cacheName('cli', bundleDir)]);
  });

  it('names the build in the cache: another build of the same length writes a cache of its own and leaves the first alone', async () => {
    const { bin, bundleDir } = packageCopy({ replace: { 'main.wrapped.js.sha256': `${'0'.repeat(64)}\n` } });
    const first = await runKumaDp(['version'], { bin });
    const other = `cli-${'0'.repeat(16)}-${process.version}-${process.arch}.v8`;
    expect(first.code).to.equal(0);
    expect(readdirSync(join(bundleDir, 'code-cache'))).to.deep.equal([other]);
    // The same script under another build id: the cache of the first one is not its cache.
    writeFileSync(join(bundleDir, 'main.wrapped.js.sha256'), `${'1'.repeat(64)}\n`);
    const firstCache = readFileSync(join(bundleDir, 'code-cache', other));
    expect((await runKumaDp(['version'], { bin })).code).to.equal(0);
    expect(readFileSync(join(bundleDir, 'code-cache', other)).equals(firstCache), "the first build's cache untouched").to.equal(true);
    expect(readdirSync(join(bundleDir, 'code-cache')).sort()).to.deep.equal([other, `cli-${'1'.repeat(16)}-${process.version}-${process.arch}.v8`].sort());
  });

  it('writing a cache removes staging files left by a kuma-dp killed while writing, and no others', async () => {
    const { bin, bundleDir } = packageCopy();
    const dir = join(bundleDir, 'code-cache');
    mkdirSync(dir);
    const abandoned = join(dir, `${cacheName('run', bundleDir)}.0123456789ab.tmp`);
    const inProgress = join(dir, `${cacheName('run', bundleDir)}.ba9876543210.tmp`);
    writeFileSync(abandoned, 'half a cache');
    writeFileSync(inProgress, 'another kuma-dp is writing this');
    const longAgo = new Date(Date.now() - 3_600_000);
    utimesSync(abandoned, longAgo, longAgo);
    expect((await runKumaDp(['version'], { bin })).code).to.equal(0);
    expect(readdirSync(dir).sort()).to.deep.equal([cacheName('cli', bundleDir), basename(inProgress)].sort());
  });

  it('a kuma-dp still running across a rebuild writes no cache, under either build', async () => {
    const { bin, bundleDir } = packageCopy({ replace: { 'main.wrapped.js.sha256': `${'2'.repeat(64)}\n` } });
    // The rebuild (a new hash beside the script this run has already compiled) lands while the run
    // asks for its bootstrap, before it starts Envoy, which is when it would write its cache.
    const rebuilding = await runFixture({
      cp: {
        bootstrapForRequest: (request) => {
          writeFileSync(join(bundleDir, 'main.wrapped.js.sha256'), `${'3'.repeat(64)}\n`);
          return defaultBootstrapYaml(request.body);
        },
      },
    });
    try {
      const dp = rebuilding.start([], { bin });
      // Live comes after Envoy's start, where the cache is written or not, in the same tick.
      await rebuilding.waitLive(dp);
      dp.signal('SIGTERM');
      expect((await dp.waitForExit()).code).to.equal(0);
    } finally {
      await rebuilding.close();
    }
    expect(readFileSync(join(bundleDir, 'main.wrapped.js.sha256'), 'utf8'), 'the rebuild happened').to.match(/^3{64}/);
    expect(codeCaches(bundleDir), 'no code cache (the remembered --version output is not one)').to.deep.equal([]);
  });

  it('a code cache that cannot be written costs nothing but the speed-up, and leaves nothing behind', async () => {
    const { bin, bundleDir } = packageCopy();
    // A directory where the cache file should be: the staging file is written, the rename fails.
    mkdirSync(join(bundleDir, 'code-cache', cacheName('cli', bundleDir)), { recursive: true });
    const result = await runKumaDp(['version'], { bin });
    expect({ code: result.code, stderr: result.stderr }).to.deep.equal({ code: 0, stderr: '' });
    expect(result.stdout).to.match(/^Kuma DP: /);
    expect(readdirSync(join(bundleDir, 'code-cache')), 'no staging file left').to.deep.equal([cacheName('cli', bundleDir)]);

    const noDirectory = packageCopy();
    // A file where the cache directory should be: the directory cannot be made.
    writeFileSync(join(noDirectory.bundleDir, 'code-cache'), '');
    const second = await runKumaDp(['version'], { bin: noDirectory.bin });
    expect({ code: second.code, stdout: second.stdout, stderr: second.stderr }).to.deep.equal({ code: 0, stdout: result.stdout, stderr: '' });
  });

  it('the bundle reads non-ASCII input as the source does (it is compiled as Latin-1, so it must be ASCII)', async () => {
    // Go's micro sign and Greek mu; a broken escape in the bundle would refuse both. A package copy
    // has no dist/src, so this is the bundle whatever the checkout's build state.
    const { bin } = packageCopy();
    const result = await runKumaDp(fx().args(['--drain-time', '1500\u00b5s', '--min-drain-time', '1500\u03bcs']), { bin, env: { ...fx().env, KUMA_READINESS_PORT: 'bogus' } });
    expect(result.code).to.equal(2);
    expect(result.stderr).to.match(/KUMA_READINESS_PORT/).and.not.to.match(/drain-time/);
  });

  it('`run` writes its own cache once Envoy has started, and the next run takes it', async () => {
    const { bin, bundleDir } = packageCopy();
    const cache = join(bundleDir, 'code-cache', cacheName('run', bundleDir));
    const dp = fx().start([], { bin });
    await fx().waitLive(dp);
    expect(existsSync(cache), 'written by the time Envoy is live').to.equal(true);
    expect(statSync(cache).size).to.be.above(10_000);
    dp.signal('SIGTERM');
    expect((await dp.waitForExit()).code).to.equal(0);

    // The next run takes it (V8 would refuse one made under other V8 flags, and it would be written again).
    const past = new Date(Date.now() - 3_600_000);
    utimesSync(cache, past, past);
    const again = fx().start([], { bin });
    await fx().waitLive(again, 2);
    again.signal('SIGTERM');
    expect((await again.waitForExit()).code).to.equal(0);
    expect(Math.round(statSync(cache).mtimeMs), 'the second run used the cache, so did not write it').to.equal(past.getTime());
    expect(existsSync(join(bundleDir, 'code-cache', cacheName('cli', bundleDir))), 'run keeps its own cache').to.equal(false);
  });

  it('a run that never starts Envoy writes no cache, however long it runs: it never ran the start path to the end', async () => {
    const { bin, bundleDir } = packageCopy();
    fx().cp.setScript(Array.from({ length: 100 }, () => ({ status: 503 })));
    const dp = fx().start([], { bin, env: { KUMA_CONTROL_PLANE_RETRY_BACKOFF: '300ms', KUMA_CONTROL_PLANE_RETRY_MAX_DURATION: '1m' } });
    // Nine attempts 300 ms apart: past the 2 s after which earlier builds wrote the cache anyway.
    await waitFor(() => fx().cp.requests.length >= 9, { timeoutMs: 15_000, what: 'nine bootstrap attempts' });
    dp.signal('SIGTERM');
    expect((await dp.waitForExit()).code).to.equal(0);
    expect(codeCaches(bundleDir), 'no code cache (the remembered --version output is not one)').to.deep.equal([]);
  });

  it("runs Envoy's --version once, started before the CLI has loaded, without the inline token in its environment", async () => {
    const calls = join(fx().dir, 'version-calls');
    const envoy = writeExecutable(
      join(fx().dir, 'envoy-wrapper'),
      [
        '#!/bin/bash',
        `[ "$1" = --version ] && { printf '%s ' "\${EPOCHREALTIME/./}" >> ${shellQuote(calls)}; env | grep -c KUMA_DATAPLANE_RUNTIME_TOKEN >> ${shellQuote(calls)}; }`,
        `exec ${shellQuote(fx().envoyPath)} "$@"`,
        '',
      ].join('\n'),
    );
    const dp = fx().start(['--binary-path', envoy], { env: { KUMA_DATAPLANE_RUNTIME_TOKEN: TOKEN } });
    await fx().waitLive(dp);
    dp.signal('SIGTERM');
    expect((await dp.waitForExit()).code).to.equal(0);

    const lines = readFileSync(calls, 'utf8').trim().split('\n');
    expect(lines, 'one --version per run').to.have.length(1);
    const [at, tokenVariables] = lines[0]!.split(' ');
    expect(tokenVariables, 'KUMA_DATAPLANE_RUNTIME_TOKEN in the environment of --version').to.equal('0');
    const cliStarted = dp.stderr().split('\n').find((line) => line.includes('starting Data Plane'))!.split('\t')[0]!;
    // bash's own clock, in microseconds: a `date` would add its own start-up to the moment.
    expect(Number(at) / 1000, '--version ran before the CLI logged its first line').to.be.below(Date.parse(cliStarted));
    expect(fx().cp.requests[0]!.body!.dataplaneToken, 'the control plane still gets the token').to.equal(TOKEN);
    expect(fx().cp.requests[0]!.body!.version, 'the version it reported').to.have.nested.property('envoy.version', '1.34.1');
  });

  it('an early --version that hangs neither delays nor outlives a run its flags end', async () => {
    const pidFile = join(fx().dir, 'version-pid');
    // The pid first, by the shell itself: kuma-dp may kill it any moment after.
    const envoy = writeExecutable(join(fx().dir, 'hanging-envoy'), `#!/bin/bash\necho $$ > ${shellQuote(pidFile)}\nexec sleep 30\n`);
    const started = Date.now();
    const result = await runKumaDp(fx().args(['--binary-path', envoy, '--drain-time', 'soon']), { env: fx().env });
    // The --version times out after 10 s: a kuma-dp that waited for it would take that long.
    expect(Date.now() - started, 'kuma-dp does not wait for it').to.be.below(8_000);
    expect(result.code).to.equal(2);
    expect(result.stderr).to.match(/--drain-time/);
    const pid = await waitFor(() => existsSync(pidFile) && Number(readFileSync(pidFile, 'utf8')), { timeoutMs: 5_000, what: 'the --version pid' });
    await waitFor(() => processGone(pid), { timeoutMs: 5_000, what: `the hanging --version (pid ${pid}) to be gone` });
  });
});
