import { expect } from 'chai';
import { resolveRunSettings } from '../../src/config/run-settings.js';
import { formatDuration, parseDuration } from '../../src/config/duration.js';

const TEMPLATE = { dataplane: 'type: Dataplane' };

describe('run settings: flags, env vars and defaults', () => {
  it('applies flag > env var > default (the Go kuma-dp lets env win; we do not)', () => {
    const env = { KUMA_DATAPLANE_DRAIN_TIME: '7s', KUMA_CONTROL_PLANE_URL: 'http://env-cp:5678' };
    const fromFlag = resolveRunSettings({ ...TEMPLATE, drainTime: '3s' }, env, 'info');
    expect(fromFlag.problems).to.deep.equal([]);
    expect(fromFlag.settings.drainTimeMs).to.equal(3000);
    expect(fromFlag.settings.cpAddress.href).to.equal('http://env-cp:5678/');
    const fromEnv = resolveRunSettings(TEMPLATE, env, 'info');
    expect(fromEnv.settings.drainTimeMs).to.equal(7000);
    const defaults = resolveRunSettings(TEMPLATE, {}, 'info');
    expect(defaults.settings.drainTimeMs).to.equal(30_000);
    expect(defaults.settings.cpAddress.href).to.equal('https://localhost:5678/');
    expect(defaults.settings.readinessPort).to.equal(9902);
    expect(defaults.settings.retryBackoffMs).to.equal(3000);
    expect(defaults.settings.retryMaxDurationMs).to.equal(300_000);
    expect(defaults.settings.minDrainTimeMs).to.equal(5000);
    expect(defaults.settings.envoyLogLevel, 'Envoy inherits --log-level').to.equal('info');
    expect(defaults.settings.binaryPath, 'the default "envoy" leaves the lookup order to DESIGN §5').to.equal(undefined);
  });

  it('reports every problem at once, each naming where it came from', () => {
    const { problems } = resolveRunSettings(
      { drainTime: 'soon', concurrency: '-1', proxyType: 'gateway', envoyRestart: 'sometimes' },
      { KUMA_READINESS_PORT: '70000', KUMA_CONTROL_PLANE_RETRY_BACKOFF: '0s' },
      'info',
    );
    expect(problems.join('\n')).to.match(/--drain-time: invalid duration "soon"/)
      .and.to.match(/--concurrency must be a whole number/)
      .and.to.match(/invalid proxy type "gateway"/)
      .and.to.match(/--envoy-restart must be one of auto, never, on-failure, always/)
      .and.to.match(/KUMA_READINESS_PORT must be a whole number from 1 to 65535/)
      .and.to.match(/KUMA_CONTROL_PLANE_RETRY_BACKOFF must be greater than 0/)
      .and.to.match(/--name is required/)
      .and.to.match(/--mesh is required/);
  });

  it('clamps the default minimum drain to a shorter --drain-time, but rejects an explicit conflict', () => {
    expect(resolveRunSettings({ ...TEMPLATE, drainTime: '3s' }, {}, 'info').settings.minDrainTimeMs).to.equal(3000);
    const { problems } = resolveRunSettings({ ...TEMPLATE, drainTime: '3s' }, { KUMA_DATAPLANE_MIN_DRAIN_TIME: '4s' }, 'info');
    expect(problems).to.deep.equal(['KUMA_DATAPLANE_MIN_DRAIN_TIME (4s) must not exceed --drain-time (3s)']);
  });

  it('rejects a restart cap below the first delay, naming where each came from, alongside other problems', () => {
    const { problems } = resolveRunSettings(
      { ...TEMPLATE, envoyRestartBackoff: '5s', drainTime: 'x' },
      { KUMA_DATAPLANE_RUNTIME_ENVOY_RESTART_MAX_BACKOFF: '1s' },
      'info',
    );
    expect(problems).to.include('KUMA_DATAPLANE_RUNTIME_ENVOY_RESTART_MAX_BACKOFF (1s) must not be shorter than --envoy-restart-backoff (5s)');
    expect(problems.some((p) => p.startsWith('--drain-time'))).to.equal(true);
    const unparsable = resolveRunSettings({ ...TEMPLATE, envoyRestartBackoff: 'soon' }, {}, 'info').problems;
    expect(unparsable.filter((p) => p.includes('shorter than')), 'no second complaint about a value that did not parse').to.deep.equal([]);
  });

  it('derives the name from POD_NAME.POD_NAMESPACE, so --name is not required on Kubernetes', () => {
    const { problems } = resolveRunSettings({ mesh: 'default' }, { POD_NAME: 'web-0', POD_NAMESPACE: 'shop' }, 'info');
    expect(problems).to.deep.equal([]);
  });

  it('--config-dir on the command line beats the work dir from the environment; --work-dir beats both', () => {
    const env = { KUMA_DATAPLANE_RUNTIME_WORK_DIR: '/from-env' };
    expect(resolveRunSettings({ ...TEMPLATE, configDir: '/from-flag' }, env, 'info').settings.workDir).to.equal('/from-flag');
    expect(resolveRunSettings({ ...TEMPLATE, configDir: '/alias', workDir: '/main' }, env, 'info').settings.workDir).to.equal('/main');
    expect(resolveRunSettings({ ...TEMPLATE }, env, 'info').settings.workDir).to.equal('/from-env');
  });

  it('accepts --config-dir as the alias of --work-dir and repeatable -v values', () => {
    const { settings } = resolveRunSettings({ ...TEMPLATE, configDir: '/var/kuma', dataplaneVar: ['a=1', 'b=2'] }, {}, 'info');
    expect(settings.workDir).to.equal('/var/kuma');
    expect(settings.dataplaneVars).to.deep.equal(['a=1', 'b=2']);
  });

  it('chooses the restart policy from the environment when it is auto, and says why', () => {
    expect(resolveRunSettings(TEMPLATE, { KUBERNETES_SERVICE_HOST: '10.0.0.1' }, 'info').settings.restart.policy).to.equal('never');
    expect(resolveRunSettings(TEMPLATE, { INVOCATION_ID: 'abc' }, 'info').settings.restart.reason).to.match(/systemd/);
    expect(resolveRunSettings(TEMPLATE, {}, 'info').settings.restart.policy).to.equal('on-failure');
    expect(resolveRunSettings({ ...TEMPLATE, envoyRestart: 'always' }, { INVOCATION_ID: 'x' }, 'info').settings.restart.policy).to.equal('always');
  });

  it('never keeps the inline token value in the settings', () => {
    const { settings } = resolveRunSettings({ ...TEMPLATE, dataplaneToken: 'secret.token.value' }, {}, 'info');
    expect(JSON.stringify(settings)).not.to.include('secret.token.value');
  });
});

describe('Go durations', () => {
  for (const [text, ms] of [['500ms', 500], ['30s', 30_000], ['1h30m', 5_400_000], ['1.5s', 1500], ['0', 0], ['2m3s', 123_000], ['100us', 0.1], ['100\u00b5s', 0.1], ['100\u03bcs', 0.1]] as const) {
    it(`parses ${text}`, () => expect(parseDuration(text)).to.equal(ms));
  }
  for (const bad of ['', '5', '5x', '-1s', 's', '1h 30m']) {
    it(`rejects "${bad}"`, () => expect(() => parseDuration(bad)).to.throw(/duration/));
  }
  it('formats like Go', () => {
    expect(formatDuration(5_400_000)).to.equal('1h30m0s');
    expect(formatDuration(1500)).to.equal('1.5s');
    expect(formatDuration(250)).to.equal('250ms');
  });
});
