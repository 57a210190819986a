import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { load as parse } from 'js-yaml';
import { DEFAULT_TEMPLATE_PATH, generateLocalBootstrap, type LocalBootstrapInput } from '../../src/bootstrap/local/generate.js';
import { validateBootstrapYaml } from '../../src/bootstrap/schema/validate.js';
import { ConfigError, ExitCode } from '../../src/errors.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';
import { thrownBy } from '../support/errors.js';

const TOKEN = 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJOYW1lIjoid2ViLTEifQ.c2lnbmF0dXJl';
const CA_PEM = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2E=\n-----END CERTIFICATE-----\n';

const DATAPLANE = {
  type: 'Dataplane',
  mesh: 'default',
  name: 'web-1',
  networking: {
    address: '10.0.0.5',
    admin: { port: 9911 },
    inbound: [{ port: 11011, servicePort: 11012, tags: { 'kuma.io/service': 'web', 'kuma.io/protocol': 'http' } }],
  },
};

function input(overrides: Partial<LocalBootstrapInput> = {}): LocalBootstrapInput {
  return {
    cpAddress: 'https://kuma-cp.example:5678',
    mesh: 'default',
    name: 'web-1',
    workdir: '/tmp/kuma-dp-test',
    adminSocket: false,
    caCertPem: CA_PEM,
    kumaDpVersion: '0.1.0',
    envoyVersion: '1.34.1',
    features: ['feature-tcp-accesslog-via-named-pipe', 'feature-strict-inbound-ports'],
    readinessPort: 9902,
    dnsPort: 15053,
    ...overrides,
  };
}

type Doc = Record<string, any>;

function generate(overrides: Partial<LocalBootstrapInput> = {}): Doc {
  return parse(generateLocalBootstrap(input(overrides))) as Doc;
}

const adsCluster = (doc: Doc): Doc => doc['static_resources']['clusters'].find((c: Doc) => c['name'] === 'ads_cluster');
const endpointAddress = (doc: Doc): Doc => adsCluster(doc)['load_assignment']['endpoints'][0]['lb_endpoints'][0]['endpoint']['address']['socket_address'];
const tlsContext = (doc: Doc): Doc | undefined => adsCluster(doc)['transport_socket']?.['typed_config'];
const grpcService = (doc: Doc): Doc => doc['dynamic_resources']['ads_config']['grpc_services'][0];

function configError(fn: () => unknown): ConfigError {
  const error = thrownBy(fn, ConfigError);
  expect(error.exitCode).to.equal(ExitCode.USAGE);
  expect(error.line).to.not.include('\n');
  return error;
}

describe('local bootstrap generation', function () {
  afterEach(cleanupTempDirs);

  describe('passes the Envoy schema in every combination', function () {
    this.timeout(20_000); // the first validation loads the descriptor set
    for (const scheme of ['http', 'https'])
      for (const host of ['127.0.0.1', 'kuma-cp.example', '[::1]'])
        for (const adminSocket of [false, true])
          for (const token of [TOKEN, undefined])
            for (const dataplane of [DATAPLANE, undefined]) {
              const what = `${scheme}://${host}, admin ${adminSocket ? 'unix' : 'tcp'}, ${token ? 'token' : 'no token'}, ${dataplane ? 'dataplane' : 'no dataplane'}`;
              it(what, function () {
                // Alternate the two CA sources so both appear in the matrix.
                const ca = adminSocket ? { caCertPem: CA_PEM } : { caCertPem: undefined, systemCaPath: '/etc/ssl/certs/ca-certificates.crt' };
                const text = generateLocalBootstrap(input({ cpAddress: `${scheme}://${host}:5678`, adminSocket, token, dataplane, ...ca }));
                const result = validateBootstrapYaml(text, what);
                expect(result, result.ok ? '' : result.summary).to.deep.equal({ ok: true });
              });
            }
  });

  describe('content', function () {
    it('identifies the node as <mesh>.<name>, in the first inbound service cluster', function () {
      const doc = generate({ dataplane: DATAPLANE });
      expect(doc['node']['id']).to.equal('default.web-1');
      expect(doc['node']['cluster']).to.equal('web');
    });

    it('falls back to the gateway service, then to the name, for node.cluster', function () {
      const gateway = { ...DATAPLANE, networking: { address: '10.0.0.5', gateway: { tags: { 'kuma.io/service': 'edge' } } } };
      expect(generate({ dataplane: gateway })['node']['cluster']).to.equal('edge');
      expect(generate({ dataplane: undefined })['node']['cluster']).to.equal('web-1');
    });

    it('puts the Dataplane, ports, versions, features and work dir in the node metadata', function () {
      const metadata = generate({ dataplane: DATAPLANE, workdir: '/var/run/kuma' })['node']['metadata'];
      expect(JSON.parse(metadata['dataplane.resource'])).to.deep.equal(DATAPLANE);
      expect(metadata['dataplane.admin.port']).to.equal('9911');
      expect(metadata['dataplane.readinessReporter.port']).to.equal('9902');
      expect(metadata['dataplane.dns.port']).to.equal('15053');
      expect(metadata['dataplane.proxyType']).to.equal('dataplane');
      expect(metadata['version']).to.deep.equal({ kumaDp: { version: '0.1.0' }, envoy: { version: '1.34.1' } });
      expect(metadata['features']).to.deep.equal(['feature-tcp-accesslog-via-named-pipe', 'feature-strict-inbound-ports']);
      expect(metadata['workdir']).to.equal('/var/run/kuma');
    });

    it('leaves the Dataplane out of the metadata when there is none', function () {
      expect(generate({ dataplane: undefined })['node']['metadata']).to.not.have.property('dataplane.resource');
    });

    it('serves admin on 127.0.0.1 at the Dataplane admin port, 9901 by default, logging to /dev/null', function () {
      expect(generate({ dataplane: DATAPLANE })['admin']['address']).to.deep.equal({ socket_address: { address: '127.0.0.1', port_value: 9911 } });
      const admin = generate({ dataplane: undefined })['admin'];
      expect(admin['address']['socket_address']['port_value']).to.equal(9901);
      expect(admin['access_log'][0]['typed_config']).to.deep.equal({
        '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
        path: '/dev/null',
      });
    });

    it('serves admin on <workdir>/kuma-envoy-admin.sock, mode 0600, when asked for a socket', function () {
      const doc = generate({ adminSocket: true, workdir: '/tmp/kdp' });
      expect(doc['admin']['address']).to.deep.equal({ pipe: { path: '/tmp/kdp/kuma-envoy-admin.sock', mode: 0o600 } });
      expect(doc['node']['metadata']['dataplane.admin.socketPath']).to.equal('/tmp/kdp/kuma-envoy-admin.sock');
    });

    it('subscribes over delta ADS, V3, with the node on the first message only', function () {
      const dynamic = generate()['dynamic_resources'];
      expect(dynamic['ads_config']).to.include({ api_type: 'DELTA_GRPC', transport_api_version: 'V3', set_node_on_first_message_only: true });
      expect(dynamic['ads_config']['grpc_services'][0]['envoy_grpc']).to.deep.equal({ cluster_name: 'ads_cluster' });
      for (const key of ['cds_config', 'lds_config']) {
        expect(dynamic[key]).to.deep.equal({ ads: {}, resource_api_version: 'V3', initial_fetch_timeout: '0s' });
      }
    });

    it('sends the token as authorization metadata, and no metadata without a token', function () {
      expect(grpcService(generate({ token: TOKEN }))['initial_metadata']).to.deep.equal([{ key: 'authorization', value: TOKEN }]);
      expect(grpcService(generate({ token: undefined }))).to.not.have.property('initial_metadata');
    });

    it('points the ADS cluster at the control plane host and port, 5678 by default', function () {
      expect(endpointAddress(generate({ cpAddress: 'https://kuma-cp.example' }))).to.deep.equal({ address: 'kuma-cp.example', port_value: 5678 });
      expect(endpointAddress(generate({ cpAddress: 'http://10.1.2.3:7000/path' }))).to.deep.equal({ address: '10.1.2.3', port_value: 7000 });
      // URL drops default ports; an explicit one must survive.
      expect(endpointAddress(generate({ cpAddress: 'https://kuma-cp.example:443' }))['port_value']).to.equal(443);
      expect(endpointAddress(generate({ cpAddress: 'http://[fd00::1]:80' }))).to.deep.equal({ address: 'fd00::1', port_value: 80 });
    });

    it('uses STATIC for an IP literal and STRICT_DNS, IPv4 preferred, for a name', function () {
      expect(adsCluster(generate({ cpAddress: 'https://192.168.0.10:5678' }))).to.include({ type: 'STATIC' }).and.not.have.property('dns_lookup_family');
      expect(adsCluster(generate({ cpAddress: 'https://kuma-cp.example:5678' }))).to.include({ type: 'STRICT_DNS', dns_lookup_family: 'V4_PREFERRED' });
    });

    it('speaks HTTP/2 through typed_extension_protocol_options, with TCP keepalive', function () {
      const cluster = adsCluster(generate());
      expect(cluster['typed_extension_protocol_options']['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']).to.deep.equal({
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicit_http_config: { http2_protocol_options: {} },
      });
      expect(cluster).to.not.have.property('http2_protocol_options');
      expect(cluster['upstream_connection_options']['tcp_keepalive']).to.have.property('keepalive_time');
      expect(cluster['connect_timeout']).to.equal('1s');
    });

    it('uses TLS for https with SNI, the inline CA and a SAN check on the host', function () {
      const context = tlsContext(generate({ cpAddress: 'https://kuma-cp.example:5678', caCertPem: CA_PEM }))!;
      expect(context['@type']).to.equal('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
      expect(context['sni']).to.equal('kuma-cp.example');
      const validation = context['common_tls_context']['validation_context'];
      expect(validation['trusted_ca']).to.deep.equal({ inline_string: CA_PEM });
      expect(validation['match_typed_subject_alt_names']).to.deep.equal([{ san_type: 'DNS', matcher: { exact: 'kuma-cp.example' } }]);
    });

    it('trusts the system bundle by file when no CA is given, and sends no SNI for an IP', function () {
      const context = tlsContext(generate({ cpAddress: 'https://10.0.0.1', caCertPem: undefined, systemCaPath: '/etc/ssl/cert.pem' }))!;
      expect(context).to.not.have.property('sni');
      const validation = context['common_tls_context']['validation_context'];
      expect(validation['trusted_ca']).to.deep.equal({ filename: '/etc/ssl/cert.pem' });
      expect(validation['match_typed_subject_alt_names'][0]).to.include({ san_type: 'IP_ADDRESS' });
    });

    it('uses no TLS for http', function () {
      expect(tlsContext(generate({ cpAddress: 'http://kuma-cp.example:5678' }))).to.equal(undefined);
    });

    it('has a layered runtime with an admin layer, RE2 as regex engine and stats tags', function () {
      const doc = generate();
      const layers = doc['layered_runtime']['layers'];
      expect(layers.some((l: Doc) => 'admin_layer' in l)).to.equal(true);
      expect(layers.find((l: Doc) => 'static_layer' in l)['static_layer']).to.have.property('re2.max_program_size.error_level');
      expect(doc['default_regex_engine']['typed_config']['@type']).to.equal('type.googleapis.com/envoy.extensions.regex_engines.v3.GoogleRE2');
    });

    it('has stats tag regexes whose groups strip the name part and capture the value', function () {
      const samples: Record<string, [string, string]> = {
        worker: ['listener.0.0.0.0_80.worker_3.downstream_cx_total', '3'],
        listener: ['inbound_10.0.0.5_80.rbac.allowed', 'inbound_10.0.0.5_80'],
        name: ['grpc.ads_cluster.streams_total', 'ads_cluster'],
        status: ['grpc.ads_cluster.streams_closed_14', '14'],
      };
      const tags = generate()['stats_config']['stats_tags'] as { tag_name: string; regex: string }[];
      expect(tags.map((t) => t.tag_name).sort()).to.deep.equal(Object.keys(samples).sort());
      for (const { tag_name: tag, regex } of tags) {
        const groups = new RegExp(`${regex}|`).exec('')!.length - 1;
        expect(groups, `${tag} capture groups`).to.be.at.least(1);
        const [stat, value] = samples[tag]!;
        const match = new RegExp(regex).exec(stat);
        expect(match?.[groups >= 2 ? 2 : 1], `${tag} on ${stat}`).to.equal(value);
      }
    });

    it('keeps awkward values intact: quotes, colons, hashes and newlines cannot break the YAML', function () {
      const workdir = `/tmp/a: b # c "d" 'e'\\f`;
      const doc = generate({ workdir, dataplane: { ...DATAPLANE, name: 'x"y' } });
      expect(doc['node']['metadata']['workdir']).to.equal(workdir);
      expect(JSON.parse(doc['node']['metadata']['dataplane.resource'])['name']).to.equal('x"y');
    });

    it('is the default template shipped in envoy-bootstrap/', function () {
      expect(DEFAULT_TEMPLATE_PATH).to.match(/envoy-bootstrap[/\\]bootstrap\.yaml\.mustache$/);
      expect(readFileSync(DEFAULT_TEMPLATE_PATH, 'utf8')).to.include('{{node.id}}');
    });
  });

  describe('template override', function () {
    it('renders --bootstrap-template instead of the default', function () {
      const dir = makeTempDir('kdp-tpl');
      const templatePath = join(dir, 'custom.yaml.mustache');
      const custom = readFileSync(DEFAULT_TEMPLATE_PATH, 'utf8').replace('connect_timeout: 1s', 'connect_timeout: 3s') + '\nstats_flush_interval: 7s\n';
      writeFileSync(templatePath, custom);
      const text = generateLocalBootstrap(input({ templatePath }));
      const doc = parse(text) as Doc;
      expect(adsCluster(doc)['connect_timeout']).to.equal('3s');
      expect(doc['stats_flush_interval']).to.equal('7s');
      expect(doc['node']['id']).to.equal('default.web-1');
      expect(validateBootstrapYaml(text, templatePath)).to.deep.equal({ ok: true });
    });

    it('lets a template misspell a field, for the schema check to catch', function () {
      const dir = makeTempDir('kdp-tpl');
      const templatePath = join(dir, 'typo.yaml.mustache');
      writeFileSync(templatePath, readFileSync(DEFAULT_TEMPLATE_PATH, 'utf8').replace('connect_timeout: 1s', 'conect_timeout: 1s'));
      const result = validateBootstrapYaml(generateLocalBootstrap(input({ templatePath })), templatePath);
      expect(result.ok).to.equal(false);
      expect(result.ok ? [] : result.problems.map((p) => p.path)).to.deep.equal(['static_resources.clusters[0].conect_timeout']);
    });
  });

  describe('bad input: exit 2 with one line', function () {
    it('a missing template', function () {
      const templatePath = join(makeTempDir('kdp-tpl'), 'absent.mustache');
      const error = configError(() => generateLocalBootstrap(input({ templatePath })));
      expect(error.line).to.include(templatePath).and.include('ENOENT').and.include('--bootstrap-template');
    });

    it('a template that renders invalid YAML, naming the template and the line', function () {
      const templatePath = join(makeTempDir('kdp-tpl'), 'broken.yaml.mustache');
      writeFileSync(templatePath, 'node:\n  id: {{node.id}}\n  cluster: [unclosed\nadmin: {}\n');
      const error = configError(() => generateLocalBootstrap(input({ templatePath })));
      expect(error.line).to.include(templatePath).and.match(/invalid YAML at line \d+, column \d+/);
    });

    it('a template that is not valid Mustache', function () {
      const templatePath = join(makeTempDir('kdp-tpl'), 'unclosed.yaml.mustache');
      writeFileSync(templatePath, 'node:\n{{#token}}\n  id: x\n');
      expect(configError(() => generateLocalBootstrap(input({ templatePath }))).line).to.include(templatePath);
    });

    it('never puts the token in the error', function () {
      const templatePath = join(makeTempDir('kdp-tpl'), 'leak.yaml.mustache');
      writeFileSync(templatePath, 'token: {{token}}\nbad: [\n');
      expect(configError(() => generateLocalBootstrap(input({ templatePath, token: TOKEN }))).line).to.not.include(TOKEN);
    });

    it('an https control plane without any CA to trust', function () {
      const error = configError(() => generateLocalBootstrap(input({ caCertPem: undefined, systemCaPath: undefined })));
      expect(error.line).to.include('--ca-cert-file');
    });

    it('a control plane address that is not an http(s) URL', function () {
      expect(configError(() => generateLocalBootstrap(input({ cpAddress: 'kuma-cp:5678' }))).line).to.include('--cp-address');
      expect(configError(() => generateLocalBootstrap(input({ cpAddress: 'grpc://kuma-cp:5678' }))).line).to.include('http or https');
    });

    it('a Dataplane admin port that is not a port', function () {
      const dataplane = { ...DATAPLANE, networking: { ...DATAPLANE.networking, admin: { port: 'x' } } };
      expect(configError(() => generateLocalBootstrap(input({ dataplane }))).line).to.include('networking.admin.port');
    });
  });
});
