import { expect } from 'chai';
import { renderDataplane, toRestResourceJson } from '../../src/dataplane/template.js';
import {
  buildBootstrapRequest,
  DEFAULT_FEATURE_FLAGS,
  featureList,
  serializeBootstrapRequest,
  type BootstrapRequestInput,
} from '../../src/bootstrap/remote/request.js';

const BASE: BootstrapRequestInput = {
  mesh: 'demo',
  name: 'sample',
  proxyType: 'dataplane',
  kumaDp: { version: '0.0.1', gitTag: 'v0.0.1', gitCommit: '91ce236824a9d875601679aa80c63783fb0e8725', buildDate: '2019-08-07T11:26:06Z' },
  envoy: {
    version: '1.15.0',
    build: '50ef0945fa2c5da4bff7627c3abf41fdd3b7cffd/1.15.0/clean-getenvoy-2aa564b-envoy/RELEASE/BoringSSL',
    compatible: false,
  },
  caCert: '',
  dnsPort: 15053,
  readinessPort: 9902,
  appProbeProxyPort: 0,
  os: 'linux',
  features: { ...DEFAULT_FEATURE_FLAGS },
  maxHeapSizeBytes: 0,
  workdir: '/tmp/kuma-dp-123',
  metricsCertPath: '',
  metricsKeyPath: '',
  systemCaPath: '/etc/ssl/certs/ca-certificates.crt',
  ipv6Enabled: true,
  spireSocketPath: '',
};

const VERSION_BLOCK = ` "version": {
  "kumaDp": {
   "version": "0.0.1",
   "gitTag": "v0.0.1",
   "gitCommit": "91ce236824a9d875601679aa80c63783fb0e8725",
   "buildDate": "2019-08-07T11:26:06Z"
  },
  "envoy": {
   "version": "1.15.0",
   "build": "50ef0945fa2c5da4bff7627c3abf41fdd3b7cffd/1.15.0/clean-getenvoy-2aa564b-envoy/RELEASE/BoringSSL",
   "kumaDpCompatible": false
  }
 },`;

describe('bootstrap request', () => {
  it('golden: template mode (resource string, HOST_IP, default features)', () => {
    const rendered = renderDataplane(
      'type: Dataplane\nmesh: {{mesh}}\nname: {{name}}\nnetworking:\n  address: 10.0.0.5\n  inbound:\n    - port: 8080\n      tags:\n        kuma.io/service: web\n',
      { mesh: 'demo', name: 'sample' },
    );
    const body = serializeBootstrapRequest(
      buildBootstrapRequest({
        ...BASE,
        mesh: rendered.mesh,
        name: rendered.name,
        token: 'token1234',
        dataplaneResourceJson: toRestResourceJson(rendered.resource),
        hostIp: '10.0.0.1',
      }),
    );
    expect(body).to.equal(`{
 "mesh": "demo",
 "name": "sample",
 "proxyType": "dataplane",
 "dataplaneToken": "token1234",
 "dataplaneResource": "{\\"type\\":\\"Dataplane\\",\\"mesh\\":\\"demo\\",\\"name\\":\\"sample\\",\\"creationTime\\":\\"0001-01-01T00:00:00Z\\",\\"modificationTime\\":\\"0001-01-01T00:00:00Z\\",\\"kri\\":\\"kri_dp_demo___sample_\\",\\"networking\\":{\\"address\\":\\"10.0.0.5\\",\\"inbound\\":[{\\"port\\":8080,\\"tags\\":{\\"kuma.io/service\\":\\"web\\"}}]}}",
${VERSION_BLOCK}
 "caCert": "",
 "dynamicMetadata": {
  "HOST_IP": "10.0.0.1"
 },
 "dnsPort": 15053,
 "readinessPort": 9902,
 "operatingSystem": "linux",
 "features": [
  "feature-tcp-accesslog-via-named-pipe",
  "feature-otel-via-kuma-dp",
  "feature-strict-inbound-ports",
  "feature-reuse-port"
 ],
 "resources": {
  "maxHeapSizeBytes": 0
 },
 "workdir": "/tmp/kuma-dp-123",
 "metricsResources": {
  "certPath": "",
  "keyPath": ""
 },
 "systemCaPath": "/etc/ssl/certs/ca-certificates.crt",
 "ipv6Enabled": true,
 "spireResources": {
  "socketPath": ""
 }
}`);
  });

  it('golden: token-file mode (no template, token path, CA, metrics TLS, bind-outbounds)', () => {
    const body = serializeBootstrapRequest(
      buildBootstrapRequest({
        ...BASE,
        token: 'token1234',
        tokenPath: 'testdata/token',
        caCert: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
        metricsCertPath: '/tmp/cert.pem',
        metricsKeyPath: '/tmp/key.pem',
        maxHeapSizeBytes: 536870912,
        features: { ...DEFAULT_FEATURE_FLAGS, bindOutbounds: true },
        ipv6Enabled: false,
        systemCaPath: '',
      }),
    );
    expect(body).to.equal(`{
 "mesh": "demo",
 "name": "sample",
 "proxyType": "dataplane",
 "dataplaneToken": "token1234",
 "dataplaneTokenPath": "testdata/token",
${VERSION_BLOCK}
 "caCert": "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n",
 "dynamicMetadata": {},
 "dnsPort": 15053,
 "readinessPort": 9902,
 "operatingSystem": "linux",
 "features": [
  "feature-tcp-accesslog-via-named-pipe",
  "feature-otel-via-kuma-dp",
  "feature-strict-inbound-ports",
  "feature-reuse-port",
  "feature-bind-outbounds"
 ],
 "resources": {
  "maxHeapSizeBytes": 536870912
 },
 "workdir": "/tmp/kuma-dp-123",
 "metricsResources": {
  "certPath": "/tmp/cert.pem",
  "keyPath": "/tmp/key.pem"
 },
 "systemCaPath": "",
 "ipv6Enabled": false,
 "spireResources": {
  "socketPath": ""
 }
}`);
  });

  it('wire trap: appProbeProxyDisabled is true when the probe proxy is ENABLED', () => {
    const enabled = buildBootstrapRequest({ ...BASE, appProbeProxyPort: 9001 });
    expect(enabled.appProbeProxyDisabled).to.equal(true);
    const keys = Object.keys(enabled);
    expect(keys.indexOf('appProbeProxyDisabled')).to.equal(keys.indexOf('readinessPort') + 1);
    expect(keys.indexOf('operatingSystem')).to.equal(keys.indexOf('appProbeProxyDisabled') + 1);
    expect(serializeBootstrapRequest(enabled)).to.contain(' "readinessPort": 9902,\n "appProbeProxyDisabled": true,\n');

    const disabled = buildBootstrapRequest({ ...BASE, appProbeProxyPort: 0 });
    expect(disabled).to.not.have.property('appProbeProxyDisabled');
    expect(serializeBootstrapRequest(disabled)).to.not.contain('appProbeProxy');
  });

  it('omits empty token, token path, resource and zero ports like Go\'s omitempty', () => {
    const request = buildBootstrapRequest({ ...BASE, token: '', tokenPath: '', dnsPort: 0, readinessPort: 0 });
    expect(Object.keys(request)).to.deep.equal([
      'mesh', 'name', 'proxyType', 'version', 'caCert', 'dynamicMetadata', 'operatingSystem', 'features',
      'resources', 'workdir', 'metricsResources', 'systemCaPath', 'ipv6Enabled', 'spireResources',
    ]);
  });

  it('sends dynamicMetadata sorted like a Go map, and null only when asked for with no HOST_IP', () => {
    const merged = buildBootstrapRequest({ ...BASE, dynamicMetadata: { zeta: '1', alpha: '2' }, hostIp: '10.1.1.1' });
    expect(JSON.stringify(merged.dynamicMetadata)).to.equal('{"HOST_IP":"10.1.1.1","alpha":"2","zeta":"1"}');
    expect(buildBootstrapRequest({ ...BASE, dynamicMetadata: null }).dynamicMetadata).to.equal(null);
    expect(buildBootstrapRequest({ ...BASE, dynamicMetadata: null, hostIp: '1.2.3.4' }).dynamicMetadata).to.deep.equal({ HOST_IP: '1.2.3.4' });
  });

  it('escapes <, > and & like Go\'s encoding/json', () => {
    const body = serializeBootstrapRequest(buildBootstrapRequest({ ...BASE, name: 'a<b>&c' }));
    expect(body).to.contain('"name": "a\\u003cb\\u003e\\u0026c"');
    expect(JSON.parse(body).name).to.equal('a<b>&c');
  });

  it('lists features: named pipe always, the rest by flag', () => {
    expect(featureList({ otelViaKumaDp: false, strictInboundPorts: false, reusePort: false, bindOutbounds: false, spire: true })).to.deep.equal([
      'feature-tcp-accesslog-via-named-pipe',
      'feature-spire',
    ]);
  });
});
