import { expect } from 'chai';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventsOf } from '../doubles/envoy-record.js';
import { runKumaDp } from '../support/kuma-dp.js';
import { TOKEN, useRunFixture } from '../support/run-fixture.js';

/** Replaces the value after `flag` in args (or drops flag+value when value is undefined). */
function withFlag(args: string[], flag: string, value: string | undefined): string[] {
  const i = args.indexOf(flag);
  const out = [...args];
  if (i < 0) return value === undefined ? out : [...out, flag, value];
  if (value === undefined) out.splice(i, 2);
  else out[i + 1] = value;
  return out;
}

describe('kuma-dp run: bad input exits 2 with one line, before any request or Envoy start', function () {
  const fx = useRunFixture();

  const file = (name: string, content: string, mode = 0o644) => {
    const path = join(fx().dir, name);
    writeFileSync(path, content, { mode });
    chmodSync(path, mode);
    return path;
  };

  const cases: { name: string; args: (a: string[]) => string[]; expect: RegExp }[] = [
    { name: 'a template together with --name and --mesh', args: (a) => [...a, '--name', 'x', '--mesh', 'default'], expect: /--name and --mesh cannot be specified/ },
    { name: 'neither a template nor --name', args: (a) => withFlag(a, '--dataplane-file', undefined), expect: /--name is required without a Dataplane template/ },
    { name: 'a missing token file', args: (a) => withFlag(a, '--dataplane-token-file', join(fx().dir, 'nope')), expect: /dataplane token is invalid.*could not read file .*nope/ },
    { name: 'an empty token file', args: (a) => withFlag(a, '--dataplane-token-file', file('empty-token', '')), expect: /token under file .*empty-token is empty/ },
    { name: 'a token with a line break inside', args: (a) => withFlag(a, '--dataplane-token-file', file('broken-token', `${TOKEN.slice(0, 20)}\n${TOKEN.slice(20)}`)), expect: /line breaks within the token/ },
    { name: 'a template that is not YAML', args: (a) => withFlag(a, '--dataplane-file', file('bad.yaml', 'type: Dataplane\n  name: [x\n')), expect: /bad\.yaml/ },
    { name: 'a template of another type', args: (a) => withFlag(a, '--dataplane-file', file('gw.yaml', 'type: ZoneIngress\nmesh: default\nname: x\nnetworking:\n  address: 1.2.3.4\n')), expect: /invalid proxy resource type "ZoneIngress", expected Dataplane/ },
    { name: 'an invalid name', args: (a) => withFlag(a, '-v', 'name=Web_1'), expect: /name: invalid characters/ },
    { name: 'a missing template file', args: (a) => withFlag(a, '--dataplane-file', join(fx().dir, 'missing.yaml')), expect: /missing\.yaml/ },
    { name: 'a missing Envoy binary', args: (a) => withFlag(a, '--binary-path', join(fx().dir, 'no-envoy')), expect: /no-envoy/ },
    { name: 'an Envoy binary that is not executable', args: (a) => withFlag(a, '--binary-path', file('envoy-noexec', '#!/bin/sh\n', 0o644)), expect: /envoy-noexec/ },
    { name: 'a malformed duration', args: (a) => withFlag(a, '--drain-time', '30 seconds'), expect: /--drain-time: invalid duration "30 seconds"/ },
    { name: 'a cp-address with another scheme', args: (a) => withFlag(a, '--cp-address', 'grpc://cp:5678'), expect: /--cp-address "grpc:\/\/cp:5678" must use http or https/ },
    { name: 'an unknown flag', args: (a) => [...a, '--no-such-flag'], expect: /unknown option '--no-such-flag'/ },
    { name: 'a missing --bootstrap-template', args: (a) => [...a, '--bootstrap', 'local', '--bootstrap-template', join(fx().dir, 'no-template.mustache')], expect: /no-template\.mustache/ },
    { name: 'a bootstrap template that renders invalid YAML', args: (a) => [...a, '--bootstrap', 'local', '--bootstrap-template', file('broken.mustache', 'node:\n  id: [{{name}}\n')], expect: /broken\.mustache/ },
    { name: 'a CA file without a certificate, also for --bootstrap local', args: (a) => [...a, '--bootstrap', 'local', '--ca-cert-file', file('ca.pem', 'not a certificate\n')], expect: /could not add certificate: the control plane CA holds no parsable PEM certificate/ },
    { name: 'a proxy type other than dataplane', args: (a) => [...a, '--proxy-type', 'ingress'], expect: /invalid proxy type "ingress"/ },
  ];

  it('rejects a bad inline token before writing it anywhere, even into a --work-dir that stays', async () => {
    const secret = 'not-a-jwt-SECRET-inline-token';
    const args = withFlag(fx().args(), '--dataplane-token-file', undefined);
    const result = await runKumaDp(args, { env: { ...fx().env, KUMA_DATAPLANE_RUNTIME_TOKEN: secret } });
    expect(result.code, result.stderr).to.equal(2);
    expect(result.stderr).to.match(/\nError: dataplane token is invalid.*invalid number of segments\n$/);
    expect(result.stderr).not.to.include(secret);
    const left = existsSync(fx().workDir) ? readdirSync(fx().workDir).filter((f) => readFileSync(join(fx().workDir, f), 'utf8').includes(secret)) : [];
    expect(left, 'files holding the token').to.deep.equal([]);
  });

  for (const c of cases) {
    it(`rejects ${c.name}`, async () => {
      const before = fx().cp.requests.length;
      const started = Date.now();
      const result = await runKumaDp(c.args(fx().args()), { env: fx().env });
      const elapsed = Date.now() - started;
      const lines = result.stderr.trim().split('\n');
      expect(result.code, result.stderr).to.equal(2);
      expect(lines.filter((l) => /^Error: /.test(l)), 'exactly one error line').to.have.length(1);
      expect(lines.at(-1)).to.match(/^Error: /).and.to.match(c.expect);
      expect(result.stderr, 'no stack trace').not.to.match(/^\s+at /m);
      expect(result.stderr).not.to.include(TOKEN.slice(30));
      expect(fx().cp.requests.length, 'no request to the control plane').to.equal(before);
      expect(eventsOf(fx().record(), 'start'), 'no Envoy started').to.have.length(0);
      // "within a second" on an idle machine; the bound is looser so a loaded CI box does not flake.
      expect(elapsed).to.be.below(2000);
    });
  }
});
