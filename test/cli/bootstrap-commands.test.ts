import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { load as parse } from 'js-yaml';
import { runKumaDp } from '../support/kuma-dp.js';
import { useRunFixture } from '../support/run-fixture.js';

/** `kuma-dp bootstrap generate` and `kuma-dp bootstrap validate`, run as the CLI. */
describe('kuma-dp bootstrap generate | validate', function () {
  this.timeout(20_000);
  const fx = useRunFixture();

  /** `run`'s arguments as `bootstrap generate` takes them (the same flags, no control plane request). */
  const generateArgs = () => ['bootstrap', 'generate', ...fx().args().slice(1)];

  it('generate prints the local bootstrap (no request), and validate accepts it', async () => {
    const requests = fx().cp.requests.length;
    const generated = await runKumaDp(generateArgs(), { env: fx().env });
    expect(generated.code, generated.stderr).to.equal(0);
    const doc = parse(generated.stdout) as { node: { id: string; cluster: string } };
    expect(doc.node.id).to.equal('default.web-1');
    expect(fx().cp.requests.length, 'no request to the control plane').to.equal(requests);

    const file = join(fx().dir, 'generated.yaml');
    writeFileSync(file, generated.stdout);
    const validated = await runKumaDp(['bootstrap', 'validate', file]);
    expect({ code: validated.code, stdout: validated.stdout, stderr: validated.stderr }).to.deep.equal({
      code: 0,
      stdout: `${file}: valid Envoy v3 bootstrap\n`,
      stderr: '',
    });
  });

  it('validate names the field Envoy would reject (exit 1), a YAML error by line and column (exit 1), an unreadable file (exit 2)', async () => {
    const misspelt = join(fx().dir, 'misspelt.yaml');
    writeFileSync(misspelt, 'static_resources:\n  clusters:\n  - name: x\n    conect_timeout: 1s\n');
    const bad = await runKumaDp(['bootstrap', 'validate', misspelt]);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.match(
      new RegExp(`^Error: ${misspelt}: static_resources\\.clusters\\[0\\]\\.conect_timeout: unknown field "conect_timeout" in envoy\\.config\\.cluster\\.v3\\.Cluster \\(did you mean "connect_timeout"\\?\\)\\n$`),
    );

    const broken = join(fx().dir, 'broken.yaml');
    writeFileSync(broken, 'node:\n  id: [x\n');
    const syntax = await runKumaDp(['bootstrap', 'validate', broken]);
    expect(syntax.code).to.equal(1);
    expect(syntax.stderr).to.match(new RegExp(`^Error: ${broken}: \\(yaml\\): line \\d+, column \\d+: .+\\n$`));

    const missing = await runKumaDp(['bootstrap', 'validate', join(fx().dir, 'missing.yaml')]);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.equal(
      `Error: cannot read bootstrap file ${join(fx().dir, 'missing.yaml')}: no such file or directory; pass the path of a bootstrap YAML or JSON file\n`,
    );
  });
});
