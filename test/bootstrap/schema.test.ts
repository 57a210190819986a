import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { load as parse } from 'js-yaml';
import { parseYaml } from '../../src/bootstrap/schema/yaml.js';
import { KumaDpError } from '../../src/errors.js';
import { readProtoJson } from '../../src/bootstrap/schema/proto-json.js';
import { BOOTSTRAP_TYPE } from '../../src/bootstrap/schema/rules.js';
import { SCHEMA_TABLES_PATH, SchemaTables } from '../../src/bootstrap/schema/tables.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';
import { thrownBy } from '../support/errors.js';
import { anyOf, GOOD_YAML, KUMA_CP_SHAPED } from './fixtures.js';
import { validateBootstrap, validateBootstrapYaml, type BootstrapValidation } from '../../src/bootstrap/schema/validate.js';

type Doc = Record<string, any>;

/** A fresh copy of the good bootstrap, changed by `edit`. */
function good(edit: (doc: Doc) => void = () => {}): Doc {
  const doc = parse(GOOD_YAML) as Doc;
  edit(doc);
  return doc;
}

const cluster = (doc: Doc): Doc => doc['static_resources']['clusters'][0];
const tls = (doc: Doc): Doc => cluster(doc)['transport_socket']['typed_config'];
const ads = (doc: Doc): Doc => doc['dynamic_resources']['ads_config'];

function problemsOf(result: BootstrapValidation): { path: string; message: string }[] {
  expect(result.ok, 'expected the bootstrap to be rejected').to.equal(false);
  return result.ok ? [] : result.problems;
}

/** The single problem of a rejected bootstrap. */
function onlyProblem(doc: unknown): { path: string; message: string } {
  const problems = problemsOf(validateBootstrap(doc, { source: 'test.yaml' }));
  expect(problems).to.have.length(1);
  return problems[0]!;
}

function rename(holder: Doc, from: string, to: string): void {
  holder[to] = holder[from];
  delete holder[from];
}

describe('bootstrap schema validation', function () {
  // The first call loads the descriptor set; keep it out of the per-test timings.
  before(function () {
    this.timeout(20_000);
    validateBootstrap(good());
  });

  describe('accepts', function () {
    it('the minimal v3 bootstrap of the Envoy reference', function () {
      expect(validateBootstrap(good())).to.deep.equal({ ok: true });
    });

    it('a bootstrap of the shape kuma-cp sends, typed_configs included', function () {
      expect(validateBootstrap(KUMA_CP_SHAPED)).to.deep.equal({ ok: true });
    });

    it('an Any inside an Any, and the rules still look inside it', function () {
      const nested = (inner: Doc) => good((d) => (d['admin']['access_log'][0]['typed_config'] = anyOf('google.protobuf.Any', { value: inner })));
      expect(validateBootstrap(nested(anyOf('envoy.extensions.access_loggers.file.v3.FileAccessLog', { path: '/x' })))).to.deep.equal({ ok: true });
      expect(validateBootstrap(good((d) => (d['admin']['access_log'][0]['typed_config'] = anyOf('google.protobuf.Any'))))).to.deep.equal({ ok: true });
      const tooLong = `/tmp/${'x'.repeat(120)}.sock`;
      const inner = anyOf('envoy.config.core.v3.Pipe', { path: tooLong });
      expect(onlyProblem(nested(inner)).path).to.equal('admin.access_log[0].typed_config.value.path');
    });

    it('a YAML alias that makes a value contain itself: a problem at its place, not a crash', function () {
      const result = validateBootstrapYaml('static_resources: {clusters: [{name: a, connect_timeout: &x [*x]}]}');
      expect(problemsOf(result).map((p) => p.path)).to.deep.equal(['static_resources.clusters[0].connect_timeout']);
      // Where any value is allowed (a Struct), the repeat itself is the problem.
      const struct = problemsOf(validateBootstrapYaml('node: {id: a, cluster: b, metadata: &m {a: *m}}'));
      expect(struct).to.deep.equal([{ path: 'node.metadata.a', message: 'contains itself (a YAML alias to a mapping or list around it)' }]);
      const list = problemsOf(validateBootstrapYaml('stats_config: {stats_tags: &t [{tag_name: a, fixed_value: b}, *t]}'));
      expect(list.map((p) => p.path)).to.deep.equal(['stats_config.stats_tags[1]']);
    });

    it('the same bootstrap as YAML text', function () {
      expect(validateBootstrapYaml(GOOD_YAML, 'good.yaml')).to.deep.equal({ ok: true });
    });

    it('camelCase keys, as kuma-cp writes them', function () {
      const doc = good((d) => {
        rename(tls(d), 'common_tls_context', 'commonTlsContext');
        rename(cluster(d), 'connect_timeout', 'connectTimeout');
        rename(d, 'static_resources', 'staticResources');
      });
      expect(validateBootstrap(doc)).to.deep.equal({ ok: true });
    });
  });

  describe('names the exact path of a schema error', function () {
    it('an unknown top-level field', function () {
      const problem = onlyProblem(good((d) => rename(d, 'admin', 'admn')));
      expect(problem.path).to.equal('admn');
      expect(problem.message).to.include('unknown field "admn"').and.include('did you mean "admin"');
    });

    it('an unknown field inside a cluster', function () {
      const problem = onlyProblem(good((d) => rename(cluster(d), 'connect_timeout', 'conect_timeout')));
      expect(problem.path).to.equal('static_resources.clusters[0].conect_timeout');
      expect(problem.message).to.include('envoy.config.cluster.v3.Cluster').and.include('did you mean "connect_timeout"');
    });

    it('an unknown field inside a typed_config (Any)', function () {
      const problem = onlyProblem(good((d) => rename(tls(d)['common_tls_context']['validation_context'], 'trusted_ca', 'trusted_caa')));
      expect(problem.path).to.equal('static_resources.clusters[0].transport_socket.typed_config.common_tls_context.validation_context.trusted_caa');
      expect(problem.message).to.include('CertificateValidationContext');
    });

    it('an unknown field inside a typed_extension_protocol_options map entry', function () {
      const options = (d: Doc): Doc => cluster(d)['typed_extension_protocol_options']['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
      const problem = onlyProblem(good((d) => rename(options(d)['explicit_http_config'], 'http2_protocol_options', 'http2_options')));
      expect(problem.path).to.equal(
        'static_resources.clusters[0].typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].explicit_http_config.http2_options',
      );
    });

    it('a bad enum value', function () {
      const problem = onlyProblem(good((d) => (ads(d)['api_type'] = 'GRCP')));
      expect(problem.path).to.equal('dynamic_resources.ads_config.api_type');
      expect(problem.message).to.include('"GRCP"').and.include('did you mean "GRPC"').and.include('DELTA_GRPC');
    });

    it('a bad duration', function () {
      const problem = onlyProblem(good((d) => (cluster(d)['connect_timeout'] = '5')));
      expect(problem.path).to.equal('static_resources.clusters[0].connect_timeout');
      expect(problem.message).to.include('invalid duration "5"').and.include('"5s"');
    });

    it('an unknown @type', function () {
      const problem = onlyProblem(good((d) => (tls(d)['@type'] = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContex')));
      expect(problem.path).to.equal('static_resources.clusters[0].transport_socket.typed_config["@type"]');
      expect(problem.message).to.include('unknown type');
    });

    it('a wrong value type in a list element', function () {
      const problem = onlyProblem(good((d) => (d['stats_config']['stats_tags'][0]['regex'] = 7)));
      expect(problem.path).to.equal('stats_config.stats_tags[0].regex');
    });

    it('two members of one oneof: the message holding them', function () {
      const problem = onlyProblem(good((d) => (d['admin']['address']['pipe'] = { path: '/tmp/admin.sock' })));
      expect(problem.path).to.equal('admin.address');
      expect(problem.message).to.include('oneof');
    });

    it('a document that is not a mapping', function () {
      expect(onlyProblem(['node']).path).to.equal('(root)');
      expect(onlyProblem(null).path).to.equal('(root)');
    });

    it('a YAML syntax error, with line and column', function () {
      const problems = problemsOf(validateBootstrapYaml('node:\n  id: [a\nadmin: {}\n', 'broken.yaml'));
      expect(problems).to.have.length(1);
      expect(problems[0]!.path).to.equal('(yaml)');
      expect(problems[0]!.message).to.match(/^line \d+, column \d+: /);
    });

    it('a duplicate YAML key', function () {
      const problems = problemsOf(validateBootstrapYaml('node: {}\nnode: {}\n', 'dup.yaml'));
      expect(problems[0]!.path).to.equal('(yaml)');
    });

    it('reads YAML with the 1.2 core schema: one document, each key once, no unknown tags', function () {
      const value = parseYaml('t: 2024-01-01T00:00:00Z\nb: on\nn: 0o17\nq: "9901"\n<<: {a: 1}\n');
      expect(value).to.deep.equal({ value: { t: '2024-01-01T00:00:00Z', b: 'on', n: 15, q: '9901', '<<': { a: 1 } } });
      expect(parseYaml('node: {}\nnode: {}\n')).to.deep.equal({ error: 'line 2, column 1: duplicated mapping key' });
      expect(parseYaml('a: 1\n---\nb: 2\n')).to.have.property('error').that.matches(/single document/);
      expect(parseYaml('x: !custom y\n')).to.have.property('error').that.matches(/^line 1, column \d+: unknown tag/);
    });

    it('refuses a document whose aliases expand it past 100,000 nodes and characters, or nest it 1,000 levels deep; a few aliases are fine', function () {
      const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
      for (let i = 1; i < 9; i++) levels.push(`${'abcdefghi'[i]}: &${'abcdefghi'[i]} [${Array(10).fill(`*${'abcdefghi'[i - 1]}`).join(', ')}]`);
      const bomb = { error: 'its YAML aliases expand it by more than 100,000 nodes and characters (a YAML bomb)', refused: true };
      expect(parseYaml(`${levels.join('\n')}\n`), 'a billion laughs').to.deep.equal(bomb);
      expect(parseYaml(`s: &s "${'x'.repeat(20_000)}"\nl: [${Array(10).fill('*s').join(', ')}]\n`), 'one long string, ten times').to.deep.equal(bomb);
      const chain = ['n0: &n0 [[[[[[[[[[x]]]]]]]]]]'];
      for (let i = 1; i <= 120; i++) chain.push(`n${i}: &n${i} [[[[[[[[[[*n${i - 1}]]]]]]]]]]`);
      expect(parseYaml(`${chain.join('\n')}\n`), 'nesting through aliases').to.deep.equal({ error: 'its YAML aliases nest it more than 1,000 levels deep', refused: true });
      const tags = 'tags: &tags {kuma.io/service: web, team: a}\ninbound:\n- {port: 1, tags: *tags}\n- {port: 2, tags: *tags}\n';
      expect(parseYaml(tags)).to.have.nested.property('value.inbound[1].tags.team', 'a');
    });

    it('a one-line summary naming the source', function () {
      const result = validateBootstrap(good((d) => rename(d, 'admin', 'admn')), { source: "the control plane's bootstrap" });
      expect(result.ok).to.equal(false);
      if (result.ok) return;
      expect(result.summary).to.match(/^the control plane's bootstrap: admn: unknown field/);
      expect(result.summary).to.not.include('\n');
    });
  });

  describe('enforces the startup rules Envoy checks beyond the schema', function () {
    const cases: [string, (d: Doc) => void, string, RegExp][] = [
      ['an empty node id with ADS', (d) => (d['node']['id'] = ''), 'node.id', /node id and cluster/],
      ['a missing node cluster with ADS', (d) => delete d['node']['cluster'], 'node.cluster', /node id and cluster/],
      ['a transport API other than V3', (d) => (ads(d)['transport_api_version'] = 'AUTO'), 'dynamic_resources.ads_config.transport_api_version', /V3/],
      ['AGGREGATED_GRPC', (d) => (ads(d)['api_type'] = 'AGGREGATED_GRPC'), 'dynamic_resources.ads_config.api_type', /not supported/],
      ['AGGREGATED_DELTA_GRPC', (d) => (ads(d)['api_type'] = 'AGGREGATED_DELTA_GRPC'), 'dynamic_resources.ads_config.api_type', /not supported/],
      ['a missing api_type', (d) => delete ads(d)['api_type'], 'dynamic_resources.ads_config.api_type', /missing/],
      ['ADS without a gRPC service', (d) => (ads(d)['grpc_services'] = []), 'dynamic_resources.ads_config.grpc_services', /gRPC service/],
      [
        'an ADS cluster that is not defined statically',
        (d) => (ads(d)['grpc_services'][0]['envoy_grpc']['cluster_name'] = 'elsewhere'),
        'dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name',
        /"elsewhere" is not defined in static_resources.clusters/,
      ],
      ['an empty ADS cluster name', (d) => (ads(d)['grpc_services'][0]['envoy_grpc']['cluster_name'] = ''), 'dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name', /must not be empty/],
      ['an admin port above 65535', (d) => (d['admin']['address']['socket_address']['port_value'] = 70000), 'admin.address.socket_address.port_value', /70000/],
      [
        'an endpoint port above 65535',
        (d) => (cluster(d)['load_assignment']['endpoints'][0]['lb_endpoints'][0]['endpoint']['address']['socket_address']['port_value'] = 65536),
        'static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value',
        /65536/,
      ],
      ['a zero connect_timeout', (d) => (cluster(d)['connect_timeout'] = '0s'), 'static_resources.clusters[0].connect_timeout', /greater than 0/],
      ['a negative connect_timeout', (d) => (cluster(d)['connect_timeout'] = '-1s'), 'static_resources.clusters[0].connect_timeout', /greater than 0/],
      [
        'an admin unix socket path longer than the OS allows',
        (d) => (d['admin']['address'] = { pipe: { path: `/tmp/${'x'.repeat(120)}.sock` } }),
        'admin.address.pipe.path',
        /unix socket path/,
      ],
    ];
    for (const [what, edit, path, message] of cases) {
      it(`rejects ${what}`, function () {
        const problem = onlyProblem(good(edit));
        expect(problem.path).to.equal(path);
        expect(problem.message).to.match(message);
      });
    }

    it('rejects an unnamed cluster (and the ADS reference that now dangles)', function () {
      const problems = problemsOf(validateBootstrap(good((d) => (cluster(d)['name'] = ''))));
      expect(problems.map((p) => p.path)).to.deep.equal([
        'static_resources.clusters[0].name',
        'dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name',
      ]);
    });

    it('accepts port 65535 and a bootstrap without dynamic resources or node', function () {
      const doc = good((d) => {
        d['admin']['address']['socket_address']['port_value'] = 65535;
        delete d['dynamic_resources'];
        delete d['node'];
      });
      expect(validateBootstrap(doc)).to.deep.equal({ ok: true });
    });

    it('reports every rule violation at once', function () {
      const doc = good((d) => {
        d['node']['id'] = '';
        ads(d)['transport_api_version'] = 'AUTO';
      });
      expect(problemsOf(validateBootstrap(doc))).to.have.length(2);
    });
  });

  describe('the schema file', function () {
    after(cleanupTempDirs);

    const refusal = (load: () => unknown): KumaDpError => thrownBy(load, KumaDpError);

    it('a missing or damaged schema file is one line naming it, never a pass', function () {
      const dir = makeTempDir('schema-tables');
      const missing = refusal(() => SchemaTables.load(join(dir, 'absent.tables')));
      expect(missing.message).to.equal(`the Envoy schema ${join(dir, 'absent.tables')} is unusable: it cannot be read (ENOENT)`);
      expect(missing.hint).to.include('npm run build');

      const garbage = join(dir, 'garbage.tables');
      writeFileSync(garbage, 'not tables at all\n{}');
      expect(refusal(() => SchemaTables.load(garbage)).message).to.match(/is unusable: its index is damaged$/);

      // The index intact, the bootstrap package's tables overwritten: found when a check reaches them.
      const real = readFileSync(SCHEMA_TABLES_PATH);
      const body = real.indexOf(10) + 1;
      const index = JSON.parse(real.subarray(0, body).toString()) as { packages: Record<string, [number, number]> };
      const [start, end] = index.packages['envoy.config.bootstrap.v3']!;
      const damaged = join(dir, 'damaged.tables');
      writeFileSync(damaged, Buffer.from(real).fill('x', body + start, body + end));
      const tables = SchemaTables.load(damaged);
      expect(refusal(() => readProtoJson(tables, BOOTSTRAP_TYPE, good())).message).to.match(/is unusable: the tables of envoy\.config\.bootstrap\.v3 are damaged$/);
    });

    it('knows no type by a name that only an object prototype has', function () {
      const tables = SchemaTables.load();
      for (const name of ['constructor', 'toString', 'envoy.config.core.v3.constructor', '__proto__.x', 'envoy.config.core.v3.__proto__']) {
        expect(tables.message(name), name).to.equal(undefined);
        expect(tables.enum(name), name).to.equal(undefined);
      }
      expect(onlyProblem(good((d) => (cluster(d)['transport_socket']['typed_config']['@type'] = 'type.googleapis.com/constructor'))).message).to.include('unknown type');
    });
  });
});
