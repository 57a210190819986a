import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { ConfigError } from '../../src/errors.js';
import { isCompatible, parseEnvoyVersion, readEnvoyVersion, supportsDrainSkipExit } from '../../src/envoy/version.js';
import { startVersionRun } from '../../src/envoy/version-run.js';
import { rejectionOf, thrownBy } from '../support/errors.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';
import { writeExecutable } from '../support/executable.js';

const script = (body: string): string => writeExecutable(join(makeTempDir('kdp-version'), 'envoy'), `#!/bin/sh\n${body}\n`);

describe('Envoy --version', function () {
  this.timeout(10_000);
  after(cleanupTempDirs);

  it('reads the release from every build string shape Envoy has printed', () => {
    const cases: [string, string][] = [
      ['envoy  version: 50ef0945fa2c5da4bff7627c3abf41fdd3b7cffd/1.34.1/Clean/RELEASE/BoringSSL', '1.34.1'],
      ['envoy  version: 8c7dff4a7da9ad16c5a0e5d2a2e5fc2d5e0cd2f2/1.8.0/Clean/RELEASE', '1.8.0'],
      ['envoy  version: abc/1.20.0-dev/Modified/DEBUG/BoringSSL', '1.20.0-dev'],
      ['envoy  version: abc/1.28.0/Clean/RELEASE/BoringSSL-FIPS', '1.28.0'],
      ['\nsome banner\r\nenvoy  version: abc/1.30.2/Clean/RELEASE/BoringSSL\r\n', '1.30.2'],
    ];
    for (const [output, version] of cases) expect(parseEnvoyVersion(output).version, output).to.equal(version);
    expect(parseEnvoyVersion(cases[0]![0]).build).to.equal('50ef0945fa2c5da4bff7627c3abf41fdd3b7cffd/1.34.1/Clean/RELEASE/BoringSSL');
  });

  it('refuses output without a version line or with a build string that names no release', () => {
    expect(thrownBy(() => parseEnvoyVersion('hello\n')).message).to.equal('no "version:" line in the output: "hello"');
    expect(thrownBy(() => parseEnvoyVersion('envoy version: abc/main/Clean')).message).to.equal('unrecognised Envoy build string "abc/main/Clean"');
  });

  it("kuma-dp's compatibility rule: same major.minor, patch not older", () => {
    expect(isCompatible('1.34.1', '1.34.1')).to.equal(true);
    expect(isCompatible('1.34.1', '1.34.5')).to.equal(true);
    expect(isCompatible('1.34.1', '1.34.0')).to.equal(false);
    expect(isCompatible('1.34.1', '1.35.0')).to.equal(false);
    expect(isCompatible('1.34.1', 'main')).to.equal(undefined);
  });

  it('drain_listeners?skip_exit from Envoy 1.27', () => {
    expect(supportsDrainSkipExit('1.26.9')).to.equal(false);
    expect(supportsDrainSkipExit('1.27.0')).to.equal(true);
    expect(supportsDrainSkipExit('1.34.1-dev')).to.equal(true);
  });

  it('runs the binary; each failure is a ConfigError (exit 2) of one line saying what happened', async () => {
    expect(await readEnvoyVersion(script('echo "envoy  version: abc/1.34.1/Clean/RELEASE/BoringSSL"'))).to.deep.equal({
      version: '1.34.1',
      build: 'abc/1.34.1/Clean/RELEASE/BoringSSL',
    });
    const crashing = script('echo "loading..." >&2; echo "cannot execute binary file" >&2; exit 126');
    const crash = await rejectionOf(readEnvoyVersion(crashing), ConfigError);
    expect(crash.line).to.equal(
      `Envoy binary ${crashing} failed to run with --version: cannot execute binary file; check that it is an Envoy executable for this platform, or point --binary-path at one`,
    );
    const hanging = script('exec sleep 30');
    const hang = await rejectionOf(readEnvoyVersion(hanging, 200), ConfigError);
    expect(hang.message).to.equal(`Envoy binary ${hanging} failed to run with --version: it did not answer within 0.2s`);
    const chatty = script('echo "usage: envoy [options]"');
    const unusable = await rejectionOf(readEnvoyVersion(chatty), ConfigError);
    expect(unusable.line).to.equal(`Envoy binary ${chatty} printed no usable version: no "version:" line in the output: "usage: envoy [options]"; check that --binary-path points at Envoy`);
  });

  it('reads a run started earlier when it ran the same binary, and runs its own otherwise', async () => {
    const counting = (release: string) => {
      const calls = join(makeTempDir('kdp-version-calls'), 'calls');
      return { calls, path: script(`echo x >> '${calls}'; echo "envoy  version: abc/${release}/Clean/RELEASE/BoringSSL"`) };
    };
    const guessed = counting('1.34.1');
    const early = startVersionRun(guessed.path);
    expect((await readEnvoyVersion(guessed.path, undefined, early)).version).to.equal('1.34.1');
    expect(readFileSync(guessed.calls, 'utf8'), 'the early run only').to.equal('x\n');

    const other = counting('1.33.2');
    expect((await readEnvoyVersion(other.path, undefined, startVersionRun(guessed.path))).version, 'a wrong guess is not used').to.equal('1.33.2');
    expect(readFileSync(other.calls, 'utf8')).to.equal('x\n');
  });
});
