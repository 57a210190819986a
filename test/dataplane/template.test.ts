import { expect } from 'chai';
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ConfigError } from '../../src/errors.js';
import {
  describeTemplateSource,
  parseDataplaneVars,
  readTemplateSource,
  renderDataplane,
  toRestResourceJson,
} from '../../src/dataplane/template.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';
import { rejectionOf, thrownBy } from '../support/errors.js';

/** kuma-dp's cmd/testdata/dataplane_template.yaml, in substance. */
const TEMPLATE = `type: Dataplane
mesh: default
name: {{ name }}
networking:
  address: {{ address }}
  inbound:
    - port: 11011
      servicePort: 11012
      tags:
        kuma.io/service: backend
        kuma.io/protocol: http
  outbound:
    - port: 33033
      backendRef:
        kind: MeshService
        name: redis
        port: 6379
  admin:
    port: 9901
`;

describe('dataplane template', () => {
  after(cleanupTempDirs);

  describe('renderDataplane', () => {
    it('renders kuma-dp\'s example template with -v name/address', () => {
      const result = renderDataplane(TEMPLATE, { name: 'example', address: '127.0.0.1' });
      expect(result.type).to.equal('Dataplane');
      expect(result.mesh).to.equal('default');
      expect(result.name).to.equal('example');
      expect(result.rendered).to.contain('name: example\n').and.contain('address: 127.0.0.1\n');
      expect(result.resource).to.deep.include({ name: 'example' });
      expect((result.resource.networking as { inbound: unknown[] }).inbound).to.have.length(1);
    });

    it('HTML-escapes {{x}} exactly like hoisie/mustache and leaves {{{x}}} and {{&x}} raw', () => {
      const tpl = '# {{v}} | {{{v}}} | {{&v}}\ntype: Dataplane\nmesh: m\nname: n\nnetworking:\n  address: 1.1.1.1\n';
      const value = `a&b<c>d"e'f/g\`h=i`;
      const result = renderDataplane(tpl, { v: value });
      expect(result.rendered.split('\n')[0]).to.equal(`# a&amp;b&lt;c&gt;d&#34;e&#39;f/g\`h=i | ${value} | ${value}`);
    });

    it('renders a missing variable as an empty string', () => {
      const err = thrownBy(() => renderDataplane(TEMPLATE, { address: '10.0.0.1' }));
      expect(err).to.be.instanceOf(ConfigError);
      expect(err.message).to.contain('name: cannot be empty');
    });

    it('nests dotted keys and merges two keys under one prefix', () => {
      const tpl = 'type: Dataplane\nmesh: {{ dp.mesh }}\nname: {{ dp.name }}\nnetworking:\n  address: {{ net.address }}\n';
      const result = renderDataplane(tpl, { 'dp.mesh': 'demo', 'dp.name': 'web-1', 'net.address': '10.0.0.5' });
      expect([result.mesh, result.name]).to.deep.equal(['demo', 'web-1']);
    });

    it('lets the later key win when a value and a prefix collide', () => {
      const tpl = 'type: Dataplane\nmesh: m\nname: {{ a.b }}{{ a }}\nnetworking:\n  address: 1.1.1.1\n';
      expect(renderDataplane(tpl, { a: 'x', 'a.b': 'web' }).name).to.equal('web');
      expect(renderDataplane(tpl, { 'a.b': 'web', a: 'x' }).name).to.equal('x');
    });

    it('accepts JSON templates, tabs included', () => {
      const json = '{\n\t"type": "Dataplane",\n\t"mesh": "default",\n\t"name": "{{name}}",\n\t"networking": {"address": "10.0.0.1"}\n}';
      expect(renderDataplane(json, { name: 'web-2' }).name).to.equal('web-2');
    });

    it('collects every problem into one ConfigError line', () => {
      const tpl = 'type: Mesh\nmesh: Bad$Mesh\nname: Web_1\nnetworking: {}\n';
      const err = thrownBy(() => renderDataplane(tpl, {}, '--dataplane-file dp.yaml')) as ConfigError;
      expect(err).to.be.instanceOf(ConfigError);
      expect(err.exitCode).to.equal(2);
      expect(err.message).to.equal(
        'invalid Dataplane template from --dataplane-file dp.yaml: invalid proxy resource type "Mesh", expected Dataplane; ' +
          "name: invalid characters. A lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character; " +
          "mesh: invalid characters. Valid characters are numbers, lowercase latin letters and '-', '_', '.' symbols.; " +
          'networking.address: cannot be empty',
      );
      expect(err.line).to.not.contain('\n');
    });

    it('accepts a mesh with "_" and "." but rejects a name over 253 characters', () => {
      const ok = renderDataplane('type: Dataplane\nmesh: my_mesh.v1\nname: a.b-c\nnetworking:\n  address: ::1\n', {});
      expect(ok.mesh).to.equal('my_mesh.v1');
      const long = 'a'.repeat(254);
      const err = thrownBy(() => renderDataplane(`type: Dataplane\nmesh: m\nname: ${long}\nnetworking:\n  address: x\n`, {}));
      expect(err.message).to.contain('name: value length must less or equal 253');
    });

    it('names the template source when the text is not YAML', () => {
      const err = thrownBy(() => renderDataplane('type: Dataplane\nname: [unclosed\n', {}, '--dataplane-file /etc/dp.yaml'));
      expect(err).to.be.instanceOf(ConfigError);
      expect(err.message).to.match(/^the Dataplane template from --dataplane-file \/etc\/dp.yaml is not valid YAML or JSON: /);
      expect((err as ConfigError).line).to.not.contain('\n');
    });

    it('refuses a template whose YAML aliases expand it past the limit, before anything serializes it', () => {
      const template = `type: Dataplane\nmesh: default\nname: web\nx: &x "${'x'.repeat(20_000)}"\nnetworking:\n  address: 10.0.0.1\n  tags: [${Array(10).fill('*x').join(', ')}]\n`;
      const err = thrownBy(() => renderDataplane(template, {}, '--dataplane-file /etc/dp.yaml'));
      expect(err).to.be.instanceOf(ConfigError);
      expect(err.message).to.equal('the Dataplane template from --dataplane-file /etc/dp.yaml is refused: its YAML aliases expand it by more than 100,000 nodes and characters (a YAML bomb)');
    });

    it('rejects a document that is not a mapping', () => {
      const err = thrownBy(() => renderDataplane('- a\n- b\n', {}, '--dataplane'));
      expect(err.message).to.equal('the Dataplane template from --dataplane is not a YAML or JSON object');
    });

    it('reports an unclosed Mustache tag as a ConfigError', () => {
      const err = thrownBy(() => renderDataplane('name: {{ name\n', {}));
      expect(err).to.be.instanceOf(ConfigError);
      expect(err.message).to.contain('could not render the Dataplane template');
    });
  });

  describe('parseDataplaneVars (pflag StringToString)', () => {
    it('takes repeated flags and comma-separated pairs', () => {
      expect(parseDataplaneVars(['name=web', 'a=1,b=2', 'address=10.0.0.1'])).to.deep.equal({
        name: 'web',
        a: '1',
        b: '2',
        address: '10.0.0.1',
      });
    });

    it('keeps commas in a value when there is a single "=", and trims quotes', () => {
      expect(parseDataplaneVars(['tags=a,b,c'])).to.deep.equal({ tags: 'a,b,c' });
      expect(parseDataplaneVars(['"k=v"'])).to.deep.equal({ k: 'v' });
    });

    it('splits on the first "=" and honours CSV quoting', () => {
      expect(parseDataplaneVars(['"q=x,y",url=http://h/?a=b'])).to.deep.equal({ q: 'x,y', url: 'http://h/?a=b' });
    });

    it('lets a later flag override a key', () => {
      expect(parseDataplaneVars(['a=1', 'a=2'])).to.deep.equal({ a: '2' });
    });

    it('rejects a malformed pair with a ConfigError', () => {
      const err = thrownBy(() => parseDataplaneVars(['name']));
      expect(err).to.be.instanceOf(ConfigError);
      expect(err.message).to.equal('invalid argument "name" for "-v, --dataplane-var" flag: name must be formatted as key=value');
      expect(thrownBy(() => parseDataplaneVars(['a=1,b,c=2'])).message).to.contain(': b must be formatted as key=value');
      expect(parseDataplaneVars(['a=1,b'])).to.deep.equal({ a: '1,b' });
      expect(thrownBy(() => parseDataplaneVars(['a=1,b"c=2'])).message).to.contain('bare " in non-quoted-field');
    });
  });

  describe('readTemplateSource', () => {
    const noStdin = (): never => {
      throw new Error('stdin was opened without --dataplane-file -');
    };

    it('reads --dataplane-file and prefers it over --dataplane', async () => {
      const path = join(makeTempDir('template'), 'dp.yaml');
      writeFileSync(path, 'from: file\n');
      expect(await readTemplateSource({ file: path, inline: 'from: inline', stdin: noStdin })).to.equal('from: file\n');
    });

    it('reads a pipe (--dataplane-file <(…)) without holding up the event loop while its writer is slow', async () => {
      const fifo = join(makeTempDir('template'), 'dp.fifo');
      execFileSync('mkfifo', [fifo]);
      // The writer waits for our word, or 3 s: a read that blocked the event loop gets the text
      // only then, and only after it do our timers run.
      const writer = spawn('bash', ['-c', `read -t 3 go; printf 'from: pipe\\n' > "$1"`, 'writer', fifo], { stdio: ['pipe', 'ignore', 'ignore'] });
      const read = readTemplateSource({ file: fifo, stdin: noStdin });
      let ranWhileReading = false;
      setTimeout(() => {
        ranWhileReading = true;
        writer.stdin!.end('go\n');
      }, 20);
      expect(await read).to.equal('from: pipe\n');
      expect(ranWhileReading, 'a timer ran while the pipe had no writer yet').to.equal(true);
    });

    it('reads stdin for "-"', async () => {
      const stdin = Readable.from([Buffer.from('type: Data'), Buffer.from('plane\n')]);
      expect(await readTemplateSource({ file: '-', stdin: () => stdin })).to.equal('type: Dataplane\n');
    });

    it('uses --dataplane when there is no file, and treats empty input as no template', async () => {
      expect(await readTemplateSource({ inline: 'a: 1', stdin: noStdin })).to.equal('a: 1');
      expect(await readTemplateSource({ stdin: noStdin })).to.equal(undefined);
      expect(await readTemplateSource({ inline: '  \n', stdin: noStdin })).to.equal(undefined);
    });

    it('names the path of a missing file', async () => {
      const path = join(makeTempDir('template'), 'missing.yaml');
      const err = await rejectionOf(readTemplateSource({ file: path, stdin: noStdin }));
      expect(err).to.be.instanceOf(ConfigError);
      expect(err.message).to.equal(`could not read the Dataplane template ${path}: no such file or directory`);
    });

    it('describes each source for error messages', () => {
      expect(describeTemplateSource({ file: '/x.yaml' })).to.equal('--dataplane-file /x.yaml');
      expect(describeTemplateSource({ file: '-' })).to.equal('--dataplane-file - (stdin)');
      expect(describeTemplateSource({ inline: 'x' })).to.equal('--dataplane');
    });
  });

  describe('toRestResourceJson', () => {
    it('produces kuma\'s REST form: meta, zero times, kri, then the spec fields in proto order', () => {
      const { resource } = renderDataplane(
        'probes:\n  port: 1\nnetworking:\n  address: 10.0.0.5\nname: web-1\nmesh: default\ntype: Dataplane\n',
        {},
      );
      expect(toRestResourceJson(resource)).to.equal(
        '{"type":"Dataplane","mesh":"default","name":"web-1","creationTime":"0001-01-01T00:00:00Z",' +
          '"modificationTime":"0001-01-01T00:00:00Z","kri":"kri_dp_default___web-1_",' +
          '"networking":{"address":"10.0.0.5"},"probes":{"port":1}}',
      );
    });

    it('sorts labels, derives the kri from zone/namespace/display-name labels and escapes like Go', () => {
      const json = toRestResourceJson({
        type: 'Dataplane',
        mesh: 'm',
        name: 'web-1.ns',
        labels: { 'kuma.io/zone': 'z1', 'k8s.kuma.io/namespace': 'ns', 'kuma.io/display-name': 'web-1', 'app': 'a<b>&' },
        networking: { address: '10.0.0.5' },
      });
      expect(json).to.equal(
        '{"type":"Dataplane","mesh":"m","name":"web-1.ns","creationTime":"0001-01-01T00:00:00Z",' +
          '"modificationTime":"0001-01-01T00:00:00Z","labels":{"app":"a\\u003cb\\u003e\\u0026",' +
          '"k8s.kuma.io/namespace":"ns","kuma.io/display-name":"web-1","kuma.io/zone":"z1"},' +
          '"kri":"kri_dp_m_z1_ns_web-1_","networking":{"address":"10.0.0.5"}}',
      );
    });
  });
});
