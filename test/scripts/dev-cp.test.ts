import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { expect } from 'chai';
import { load as parse } from 'js-yaml';
import { startDevControlPlane, type DevControlPlane } from '../../scripts/dev-cp/server.js';
import { buildSnapshot } from '../../scripts/dev-cp/snapshot.js';
import { TYPE_URL, unpackAny } from '../../scripts/dev-cp/xds-protos.js';
import { connectAds } from '../doubles/ads-client.js';
import { installEnvoyDouble } from '../doubles/envoy-binary.js';
import { readRecord } from '../doubles/envoy-record.js';
import { baseEnv, freePort, spawnKumaDp, type KumaDpProcess } from '../support/kuma-dp.js';
import { TOKEN } from '../support/run-fixture.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';
import { waitFor } from '../support/wait.js';

type Obj = Record<string, any>;

interface Reply {
  status: number;
  contentType: string;
  body: string;
}

function post(url: string, body: string, { ca, accept = 'application/json' }: { ca?: string; accept?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const target = new URL('/bootstrap', url);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(target, { method: 'POST', ca, headers: { accept, 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A request body shaped like kuma-dp's (reference/kuma-dp.md §2), trimmed to what matters here. */
function bootstrapBody(name: string, workdir: string, extra: Obj = {}): string {
  const dataplane = {
    type: 'Dataplane',
    mesh: 'default',
    name,
    networking: { address: '127.0.0.1', inbound: [{ port: 8080, tags: { 'kuma.io/service': 'web' } }] },
  };
  return JSON.stringify(
    {
      mesh: 'default',
      name,
      proxyType: 'dataplane',
      dataplaneToken: 'token-abc.def',
      dataplaneResource: JSON.stringify(dataplane),
      version: { kumaDp: { version: '0.1.0', gitTag: 'v0.1.0', gitCommit: 'x', buildDate: '' }, envoy: { version: '1.34.1', build: 'b', kumaDpCompatible: true } },
      caCert: '',
      dynamicMetadata: null,
      operatingSystem: 'linux',
      features: ['feature-tcp-accesslog-via-named-pipe'],
      resources: { maxHeapSizeBytes: 0 },
      workdir,
      metricsResources: { certPath: '', keyPath: '' },
      systemCaPath: '',
      ipv6Enabled: false,
      spireResources: { socketPath: '' },
      ...extra,
    },
    null,
    1,
  );
}

async function fetchBootstrap(cp: DevControlPlane, name: string, workdir: string, ca?: string): Promise<Obj> {
  const reply = await post(cp.url, bootstrapBody(name, workdir), { ca });
  expect(reply.status, reply.body).to.equal(200);
  const json = JSON.parse(reply.body) as { bootstrap: string; kumaSidecarConfiguration: Obj };
  expect(json.kumaSidecarConfiguration).to.deep.equal({ networking: { address: '127.0.0.1' }, metrics: { aggregate: [] } });
  return parse(Buffer.from(json.bootstrap, 'base64').toString('utf8')) as Obj;
}

/** Reads a snake_case field or its camelCase twin, whichever the generator wrote. */
const field = (obj: Obj | undefined, snake: string): any => obj?.[snake] ?? obj?.[snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())];

describe('dev control plane snapshot', function () {
  it('decodes to a listener on the listener port routing everything to cluster app, whose endpoint is the app port', function () {
    const snapshot = buildSnapshot({ host: '127.0.0.1', listenerPort: 10080, appPort: 18080 });
    const [listener] = snapshot.resources.get(TYPE_URL.listener)!.map((r) => unpackAny(r.resource) as Obj);
    expect(listener!.address).to.deep.equal({ socket_address: { address: '127.0.0.1', port_value: 10080 } });
    const filter = listener!.filter_chains[0].filters[0];
    expect(filter.name).to.equal('envoy.filters.network.http_connection_manager');
    // Any.value is base64 after toObject; decode the nested message the way Envoy would.
    const hcm = unpackAny({ type_url: filter.typed_config.type_url, value: Buffer.from(filter.typed_config.value, 'base64') }) as Obj;
    expect(hcm.stat_prefix).to.equal('demo');
    expect(hcm.route_config.virtual_hosts[0]).to.deep.include({ domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'app' } }] });
    expect(hcm.http_filters[0].typed_config.type_url).to.equal('type.googleapis.com/envoy.extensions.filters.http.router.v3.Router');
    const [cluster] = snapshot.resources.get(TYPE_URL.cluster)!.map((r) => unpackAny(r.resource) as Obj);
    expect(cluster).to.deep.include({
      name: 'app',
      type: 'EDS',
      connect_timeout: { seconds: '1' },
      eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
    });
    const [endpoints] = snapshot.resources.get(TYPE_URL.endpoint)!.map((r) => unpackAny(r.resource) as Obj);
    expect(endpoints!.cluster_name).to.equal('app');
    expect(endpoints!.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).to.deep.equal({ address: '127.0.0.1', port_value: 18080 });
  });
});

describe('dev control plane', function () {
  const events: Obj[] = [];
  const closers: (() => void)[] = [];
  let cp: DevControlPlane;
  let workdir: string;

  before(async function () {
    workdir = makeTempDir('dev-cp');
    cp = await startDevControlPlane({ port: 0, appPort: 18080, listenerPort: 10080 });
  });

  afterEach(function () {
    for (const close of closers.splice(0)) close();
    events.splice(0);
  });

  after(async function () {
    await cp?.close();
    cleanupTempDirs();
  });

  it('listens on two loopback ports: POST /bootstrap and ADS', function () {
    expect(cp.url).to.equal(`http://127.0.0.1:${cp.port}`);
    expect(cp.adsUrl).to.equal(`http://127.0.0.1:${cp.adsPort}`);
    expect(cp.adsPort).to.not.equal(cp.port);
  });

  it('answers a kuma-dp bootstrap request with a base64 YAML bootstrap for <mesh>.<name>, ADS pointing at itself', async function () {
    const bootstrap = await fetchBootstrap(cp, 'web-1', workdir);
    expect(bootstrap.node.id).to.equal('default.web-1');
    expect(field(field(field(bootstrap.admin, 'address'), 'pipe'), 'path')).to.equal(join(workdir, 'kuma-envoy-admin.sock'));
    const ads = field(field(bootstrap, 'dynamic_resources'), 'ads_config');
    expect(field(ads, 'api_type')).to.equal('DELTA_GRPC');
    const clusterName = field(field(ads, 'grpc_services')[0], 'envoy_grpc').cluster_name ?? field(field(ads, 'grpc_services')[0], 'envoy_grpc').clusterName;
    const cluster = field(bootstrap, 'static_resources').clusters.find((c: Obj) => c.name === clusterName);
    const socket = field(field(field(field(cluster, 'load_assignment').endpoints[0], 'lb_endpoints')[0].endpoint, 'address'), 'socket_address');
    expect([socket.address, Number(field(socket, 'port_value'))]).to.deep.equal(['127.0.0.1', cp.adsPort]);
    expect(cp.bootstrapRequests.at(-1)).to.deep.equal({ mesh: 'default', name: 'web-1', token: true, workdir });
  });

  it('returns raw YAML to a client that does not accept JSON, like kuma-cp', async function () {
    const reply = await post(cp.url, bootstrapBody('web-1', workdir), { accept: '*/*' });
    expect(reply.status).to.equal(200);
    expect(reply.contentType).to.equal('text/x-yaml');
    expect((parse(reply.body) as Obj).node.id).to.equal('default.web-1');
  });

  it('refuses a request without name or mesh with 422 and unreadable JSON with 400', async function () {
    const noName = await post(cp.url, bootstrapBody('', workdir));
    expect(noName.status).to.equal(422);
    expect(noName.body).to.match(/name required/);
    const noMesh = await post(cp.url, JSON.stringify({ name: 'web-1' }));
    expect(noMesh.status).to.equal(422);
    expect(noMesh.body).to.match(/mesh required/);
    expect((await post(cp.url, '{"mesh":')).status).to.equal(400);
  });

  it("serves its snapshot over delta ADS to the bootstrap's client and records node and token", async function () {
    const bootstrap = await fetchBootstrap(cp, 'web-2', workdir);
    closers.push(await connectAds(bootstrap, (event) => events.push(event)));
    const stream = await waitFor(() => cp.streams.find((s) => s.nodeId === 'default.web-2' && s.sent[TYPE_URL.endpoint]), {
      timeoutMs: 5000,
      what: 'the delta ADS stream of default.web-2 to get its endpoints',
    });
    expect(stream.api).to.equal('delta');
    expect(stream.authorization).to.equal('token-abc.def');
    await waitFor(() => stream.acks >= 3, { timeoutMs: 5000, what: 'ACKs for listeners, clusters and endpoints' });
    expect(stream.nacks).to.deep.equal([]);
    const received = events.filter((e) => e.event === 'ads-response').map((e) => [e.typeUrl, e.resourceNames]);
    expect(received).to.deep.include.members([
      [TYPE_URL.listener, ['demo-listener']],
      [TYPE_URL.cluster, ['app']],
      [TYPE_URL.endpoint, ['app']],
    ]);
    expect(events[0]).to.include({ event: 'ads-connected', api: 'delta', tls: false });
  });

  it('serves the same snapshot over state-of-the-world ADS when the bootstrap says GRPC', async function () {
    const bootstrap = await fetchBootstrap(cp, 'web-3', workdir);
    field(field(bootstrap, 'dynamic_resources'), 'ads_config').api_type = 'GRPC';
    delete field(field(bootstrap, 'dynamic_resources'), 'ads_config').apiType;
    closers.push(await connectAds(bootstrap, (event) => events.push(event)));
    const stream = await waitFor(() => cp.streams.find((s) => s.nodeId === 'default.web-3' && s.acks >= 3), {
      timeoutMs: 5000,
      what: 'the SotW ADS stream of default.web-3 to ACK listeners, clusters and endpoints',
    });
    expect(stream.api).to.equal('sotw');
    expect(stream.authorization).to.equal('token-abc.def');
    expect(stream.sent).to.deep.equal({ [TYPE_URL.listener]: ['demo-listener'], [TYPE_URL.cluster]: ['app'], [TYPE_URL.endpoint]: ['app'] });
    expect(events.find((e) => e.typeUrl === TYPE_URL.listener)?.resourceNames).to.deep.equal(['demo-listener']);
  });
});

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A CA and a server certificate it signed for 127.0.0.1, made with the openssl CLI. */
function makeCa(dir: string, name: string): { ca: string; cert: string; key: string } {
  const run = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run('req', '-x509', ...ec, '-days', '1', '-subj', `/CN=${name} test CA`, '-keyout', `${name}-ca.key`, '-out', `${name}-ca.pem`);
  run('req', ...ec, '-subj', '/CN=127.0.0.1', '-keyout', `${name}.key`, '-out', `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  execFileSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1\\n' > '${ext}'`]);
  run('x509', '-req', '-in', `${name}.csr`, '-CA', `${name}-ca.pem`, '-CAkey', `${name}-ca.key`, '-CAcreateserial', '-days', '1', '-extfile', ext, '-out', `${name}.pem`);
  const read = (file: string): string => readFileSync(join(dir, file), 'utf8');
  return { ca: read(`${name}-ca.pem`), cert: read(`${name}.pem`), key: read(`${name}.key`) };
}

describe('dev control plane over TLS', function () {
  const events: Obj[] = [];
  const closers: (() => void)[] = [];
  let cp: DevControlPlane | undefined;
  let dir: string;
  let tls: { ca: string; cert: string; key: string };

  before(async function () {
    if (!hasOpenssl()) this.skip();
    dir = makeTempDir('dev-cp-tls');
    tls = makeCa(dir, 'cp');
    cp = await startDevControlPlane({ port: 0, appPort: 18080, listenerPort: 10080, tls });
  });

  afterEach(function () {
    for (const close of closers.splice(0)) close();
    events.splice(0);
  });

  after(async function () {
    await cp?.close();
    cleanupTempDirs();
  });

  it('serves the bootstrap over https and ADS over TLS to a client that trusts the CA named in the bootstrap', async function () {
    expect(cp!.url).to.match(/^https:/);
    const bootstrap = await fetchBootstrap(cp!, 'web-tls', dir, tls.ca);
    const ads = field(field(bootstrap, 'dynamic_resources'), 'ads_config');
    const clusterName = field(field(ads, 'grpc_services')[0], 'envoy_grpc');
    const cluster = field(bootstrap, 'static_resources').clusters.find((c: Obj) => c.name === field(clusterName, 'cluster_name'));
    expect(field(cluster, 'transport_socket')?.name).to.equal('envoy.transport_sockets.tls');
    closers.push(await connectAds(bootstrap, (event) => events.push(event)));
    const stream = await waitFor(() => cp!.streams.find((s) => s.nodeId === 'default.web-tls' && s.acks >= 3), {
      timeoutMs: 5000,
      what: 'the TLS ADS stream of default.web-tls to ACK its resources',
    });
    expect(stream.authorization).to.equal('token-abc.def');
    expect(events[0]).to.include({ event: 'ads-connected', tls: true });
  });

  it('is refused by a client whose bootstrap trusts another CA', async function () {
    const bootstrap = await fetchBootstrap(cp!, 'web-wrong-ca', dir, tls.ca);
    const other = makeCa(dir, 'other');
    const text = JSON.stringify(bootstrap).split(JSON.stringify(tls.ca).slice(1, -1)).join(JSON.stringify(other.ca).slice(1, -1));
    expect(text).to.include('BEGIN CERTIFICATE');
    expect(text).to.not.equal(JSON.stringify(bootstrap));
    closers.push(await connectAds(JSON.parse(text), (event) => events.push(event)));
    const closed = await waitFor(() => events.find((e) => e.event === 'ads-stream-closed'), {
      timeoutMs: 5000,
      what: 'the ADS stream to fail the TLS handshake',
    });
    expect(closed.code).to.equal(14); // UNAVAILABLE
    expect(cp!.streams.some((s) => s.nodeId === 'default.web-wrong-ca')).to.equal(false);
  });

  it("kuma-dp run --bootstrap local with https and --ca-cert-file: the double's ADS stream reaches it over TLS", async function () {
    const run = await runAgainst('local-tls', ['--bootstrap', 'local', '--cp-address', cp!.adsUrl, '--ca-cert-file', join(dir, 'cp-ca.pem')]);
    try {
      const stream = await expectAdsStream(cp!, 'local-tls', run);
      expect(stream.peer).to.match(/^127\.0\.0\.1:/);
      const connected = readRecord(run.recordPath).flatMap((e) => (e.event === 'ads' && e.ads['event'] === 'ads-connected' ? [e.ads] : []));
      expect(connected[0]).to.include({ tls: true });
    } finally {
      run.kumaDp.signal('SIGKILL');
      await run.kumaDp.exited;
    }
  });
});

/**
 * kuma-dp run with the Envoy double (ENVOY_DOUBLE_ADS=1) against a dev control plane: the double's
 * ADS client follows the bootstrap kuma-dp wrote, so the stream proves where that bootstrap points.
 */
async function runAgainst(name: string, extraArgs: string[]): Promise<{ kumaDp: KumaDpProcess; recordPath: string }> {
  const dir = makeTempDir('dev-cp-e2e');
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const tokenPath = join(dir, 'token');
  writeFileSync(tokenPath, `${TOKEN}\n`, { mode: 0o600 });
  const recordPath = join(dir, 'record.jsonl');
  const kumaDp = spawnKumaDp(
    ['run', '--name', name, '--mesh', 'default', '--dataplane-token-file', tokenPath, '--binary-path', installEnvoyDouble(bin),
      '--work-dir', join(dir, 'work'), '--min-drain-time', '0s', '--drain-time', '2s', ...extraArgs],
    { env: baseEnv({ KUMA_READINESS_PORT: String(await freePort()), ENVOY_DOUBLE_ADS: '1', ENVOY_DOUBLE_RECORD: recordPath }) },
  );
  return { kumaDp, recordPath };
}

async function expectAdsStream(cp: DevControlPlane, name: string, { kumaDp, recordPath }: { kumaDp: KumaDpProcess; recordPath: string }) {
  const stream = await waitFor(() => cp.streams.find((s) => s.nodeId === `default.${name}` && s.acks >= 3), {
    timeoutMs: 15_000,
    what: `the Envoy double's ADS stream of default.${name} to ACK its resources; kuma-dp stderr:\n${kumaDp.stderr()}`,
  });
  expect(stream.api).to.equal('delta');
  expect(stream.authorization).to.equal(TOKEN);
  const ads = readRecord(recordPath).flatMap((e) => (e.event === 'ads' ? [e.ads] : []));
  expect(ads.find((e) => e['event'] === 'ads-connected')?.['node']).to.deep.equal({ id: `default.${name}`, cluster: name });
  kumaDp.signal('SIGTERM');
  expect((await kumaDp.waitForExit(10_000)).code).to.equal(0);
  return stream;
}

describe('kuma-dp run with the Envoy double against the dev control plane', function () {
  const running: KumaDpProcess[] = [];
  let cp: DevControlPlane;

  before(async function () {
    cp = await startDevControlPlane({ port: 0, appPort: 18080, listenerPort: 10080 });
  });

  afterEach(async function () {
    for (const kumaDp of running.splice(0)) {
      kumaDp.signal('SIGKILL');
      await kumaDp.exited;
    }
  });

  after(async function () {
    await cp?.close();
    cleanupTempDirs();
  });

  it("local bootstrap: the double's ADS stream reaches the dev control plane with node default.<name> and the token", async function () {
    const run = await runAgainst('local-1', ['--bootstrap', 'local', '--cp-address', cp.adsUrl]);
    running.push(run.kumaDp);
    await expectAdsStream(cp, 'local-1', run);
    expect(cp.bootstrapRequests.some((r) => r.name === 'local-1')).to.equal(false);
  });

  it("remote bootstrap: the dev control plane's bootstrap leads the double's ADS stream back to it", async function () {
    const run = await runAgainst('remote-1', ['--cp-address', cp.url]);
    running.push(run.kumaDp);
    await expectAdsStream(cp, 'remote-1', run);
    expect(cp.bootstrapRequests.find((r) => r.name === 'remote-1')).to.include({ mesh: 'default', token: true });
  });
});
