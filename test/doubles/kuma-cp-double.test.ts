import { expect } from 'chai';
import { load as parse } from 'js-yaml';
import { startKumaCpDouble, type KumaCpDouble } from './kuma-cp-double.js';

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const res = await fetch(`${url}/bootstrap`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

describe('kuma-cp double', () => {
  let cp: KumaCpDouble | undefined;
  afterEach(async () => {
    await cp?.close();
    cp = undefined;
  });

  it('answers a bootstrap with node id, admin pipe in the work dir and sidecar configuration', async () => {
    cp = await startKumaCpDouble();
    const res = await post(cp.url, { mesh: 'default', name: 'web-1', workdir: '/tmp/kdp', dataplaneToken: 't' });
    expect(res.status).to.equal(200);
    const answer = JSON.parse(res.text) as { bootstrap: string; kumaSidecarConfiguration: unknown };
    expect(answer.kumaSidecarConfiguration).to.deep.equal({ networking: { address: '127.0.0.1' }, metrics: { aggregate: [] } });
    const bootstrap = parse(Buffer.from(answer.bootstrap, 'base64').toString('utf8')) as {
      node: { id: string };
      admin: { address: { pipe: { path: string } } };
    };
    expect(bootstrap.node.id).to.equal('default.web-1');
    expect(bootstrap.admin.address.pipe.path).to.equal('/tmp/kdp/kuma-envoy-admin.sock');
    expect(cp.requests).to.have.length(1);
    expect(cp.requests[0]!.headers.accept).to.equal('application/json');
    expect(cp.requests[0]!.body?.name).to.equal('web-1');
  });

  it('plays its script, then answers ok; rejects bad JSON', async () => {
    cp = await startKumaCpDouble({
      adminPort: 9911,
      script: [{ status: 404, body: '' }, { status: 404, body: '404: Page Not Found' }, { status: 500 }, { status: 422, body: 'nope' }],
    });
    const body = { mesh: 'm', name: 'n' };
    expect(await post(cp.url, body)).to.deep.equal({ status: 404, text: '' });
    expect(await post(cp.url, body)).to.deep.equal({ status: 404, text: '404: Page Not Found' });
    expect((await post(cp.url, body)).status).to.equal(500);
    expect(await post(cp.url, body)).to.deep.equal({ status: 422, text: 'nope' });
    const ok = await post(cp.url, body);
    expect(ok.status).to.equal(200);
    const yaml = Buffer.from((JSON.parse(ok.text) as { bootstrap: string }).bootstrap, 'base64').toString('utf8');
    expect(parse(yaml)).to.nested.include({ 'admin.address.socket_address.port_value': 9911 });
    expect((await post(cp.url, '{not json')).status).to.equal(400);
    expect(cp.requests.map((r) => r.outcome)).to.deep.equal([404, 404, 500, 422, 200, 400]);
  });

  it('refuses and delays on script', async () => {
    cp = await startKumaCpDouble({ script: [{ refuse: true }, { delayMs: 150 }] });
    let refused: unknown;
    await post(cp.url, {}).catch((err: unknown) => (refused = err));
    expect(refused).to.be.instanceOf(Error);
    const started = Date.now();
    expect((await post(cp.url, { mesh: 'm', name: 'n' })).status).to.equal(200);
    expect(Date.now() - started).to.be.at.least(140);
    cp.setScript([{ status: 503 }]);
    expect((await post(cp.url, {})).status).to.equal(503);
  });
});
