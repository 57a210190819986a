import type { FlagSpec } from './flag-spec.js';

/**
 * The inline token's variable: read once, then removed from kuma-dp's environment before it
 * starts anything (Envoy, its `--version`, setpriv's probe, systemd-notify).
 */
export const DATAPLANE_TOKEN_ENV = 'KUMA_DATAPLANE_RUNTIME_TOKEN';

/**
 * `kuma-dp run`: kuma-dp's own flags and env vars (reference kuma-dp.md §1.2) with the same names
 * and defaults, then the additions of DESIGN.md §2. The order here is the order of `--help`.
 */
export const RUN_FLAGS: readonly FlagSpec[] = [
  { key: 'cpAddress', flags: '--cp-address <url>', env: 'KUMA_CONTROL_PLANE_URL', defaultValue: 'https://localhost:5678', description: 'URL of the control plane dataplane server (http or https)' },
  { key: 'name', flags: '--name <name>', env: 'KUMA_DATAPLANE_NAME', description: 'name of the dataplane (POD_NAME.POD_NAMESPACE when empty on Kubernetes)' },
  { key: 'mesh', flags: '--mesh <mesh>', env: 'KUMA_DATAPLANE_MESH', description: 'mesh of the dataplane' },
  { key: 'dataplane', flags: '--dataplane <template>', env: 'KUMA_DATAPLANE_RUNTIME_RESOURCE', description: 'inline Dataplane template (YAML or JSON)' },
  { key: 'dataplaneFile', flags: '-d, --dataplane-file <path>', env: 'KUMA_DATAPLANE_RUNTIME_RESOURCE_PATH', description: 'path to a Dataplane template, or - for stdin; wins over --dataplane' },
  { key: 'dataplaneVar', flags: '-v, --dataplane-var <key=value>', repeatable: true, description: 'template variable; repeatable and comma-separable, a.b=x nests' },
  { key: 'dataplaneToken', flags: '--dataplane-token <token>', env: DATAPLANE_TOKEN_ENV, description: 'inline dataplane token (prefer --dataplane-token-file: argv is visible to other users)' },
  { key: 'dataplaneTokenFile', flags: '--dataplane-token-file <path>', env: 'KUMA_DATAPLANE_RUNTIME_TOKEN_PATH', description: 'path to the dataplane token, re-read on every bootstrap attempt' },
  { key: 'binaryPath', flags: '--binary-path <path>', env: 'KUMA_DATAPLANE_RUNTIME_BINARY_PATH', defaultValue: 'envoy', description: 'Envoy binary: a path, or a name looked up on PATH' },
  { key: 'workDir', flags: '--work-dir <dir>', env: 'KUMA_DATAPLANE_RUNTIME_WORK_DIR', description: 'directory for bootstrap.yaml, the token file and sockets (default: a temp dir removed at exit)' },
  { key: 'configDir', flags: '--config-dir <dir>', env: 'KUMA_DATAPLANE_RUNTIME_CONFIG_DIR', description: 'deprecated alias of --work-dir' },
  { key: 'drainTime', flags: '--drain-time <duration>', env: 'KUMA_DATAPLANE_DRAIN_TIME', defaultValue: '30s', description: 'longest drain on shutdown; also Envoy --drain-time-s' },
  { key: 'caCertFile', flags: '--ca-cert-file <path>', env: 'KUMA_CONTROL_PLANE_CA_CERT_FILE', description: 'CA that verifies the control plane (the only trusted root when given)' },
  { key: 'skipVerify', flags: '--skip-verify [bool]', env: 'KUMA_CONTROL_PLANE_TLS_SKIP_VERIFY', defaultValue: 'false', description: 'do not verify the control plane certificate (development only)' },
  { key: 'envoyLogLevel', flags: '--envoy-log-level <level>', env: 'KUMA_DATAPLANE_RUNTIME_ENVOY_LOG_LEVEL', description: 'Envoy --log-level (trace, debug, info, warning, error, critical, off); default: --log-level' },
  { key: 'envoyComponentLogLevel', flags: '--envoy-component-log-level <levels>', env: 'KUMA_DATAPLANE_RUNTIME_ENVOY_COMPONENT_LOG_LEVEL', description: 'Envoy --component-log-level, e.g. upstream:debug,connection:trace' },
  { key: 'concurrency', flags: '--concurrency <n>', env: 'KUMA_DATAPLANE_RUNTIME_CONCURRENCY', defaultValue: '0', description: 'Envoy worker threads; 0 lets Envoy use the cpuset (--cpuset-threads on Linux)' },
  { key: 'proxyType', flags: '--proxy-type <type>', env: 'KUMA_DATAPLANE_PROXY_TYPE', defaultValue: 'dataplane', description: 'proxy type; only dataplane is supported' },
  { key: 'retryBackoff', env: 'KUMA_CONTROL_PLANE_RETRY_BACKOFF', defaultValue: '3s', description: 'wait between bootstrap attempts' },
  { key: 'retryMaxDuration', env: 'KUMA_CONTROL_PLANE_RETRY_MAX_DURATION', defaultValue: '5m', description: 'how long bootstrap attempts are retried' },
  { key: 'readinessPort', env: 'KUMA_READINESS_PORT', defaultValue: '9902', description: 'port of the readiness reporter (/ready)' },
  { key: 'caCert', env: 'KUMA_CONTROL_PLANE_CA_CERT', description: 'control plane CA as inline PEM; wins over --ca-cert-file' },
  { key: 'bootstrap', flags: '--bootstrap <source>', env: 'KUMA_DATAPLANE_RUNTIME_BOOTSTRAP', defaultValue: 'remote', choices: ['remote', 'local'], description: 'where the Envoy bootstrap comes from: remote (POST /bootstrap) or local (envoy-bootstrap/ templates)' },
  { key: 'bootstrapTemplate', flags: '--bootstrap-template <file>', env: 'KUMA_DATAPLANE_RUNTIME_BOOTSTRAP_TEMPLATE', description: 'Mustache template for --bootstrap local (default envoy-bootstrap/bootstrap.yaml.mustache)' },
  { key: 'envoyRestart', flags: '--envoy-restart <policy>', env: 'KUMA_DATAPLANE_RUNTIME_ENVOY_RESTART', defaultValue: 'auto', choices: ['auto', 'never', 'on-failure', 'always'], description: 'restart Envoy when it exits: never, on-failure, always; auto = never under systemd or Kubernetes, else on-failure' },
  { key: 'envoyRestartBackoff', flags: '--envoy-restart-backoff <duration>', env: 'KUMA_DATAPLANE_RUNTIME_ENVOY_RESTART_BACKOFF', defaultValue: '1s', description: 'first restart delay; doubles per restart, ±20% jitter' },
  { key: 'envoyRestartMaxBackoff', flags: '--envoy-restart-max-backoff <duration>', env: 'KUMA_DATAPLANE_RUNTIME_ENVOY_RESTART_MAX_BACKOFF', defaultValue: '30s', description: 'cap of the restart delay' },
  { key: 'envoyMaxRestarts', flags: '--envoy-max-restarts <n>', env: 'KUMA_DATAPLANE_RUNTIME_ENVOY_MAX_RESTARTS', defaultValue: '5', description: 'restarts allowed within --envoy-restart-window before giving up' },
  { key: 'envoyRestartWindow', flags: '--envoy-restart-window <duration>', env: 'KUMA_DATAPLANE_RUNTIME_ENVOY_RESTART_WINDOW', defaultValue: '10m', description: 'window of --envoy-max-restarts' },
  { key: 'minDrainTime', flags: '--min-drain-time <duration>', env: 'KUMA_DATAPLANE_MIN_DRAIN_TIME', defaultValue: '5s', description: 'shortest drain, even with no connections (load balancers need time)' },
  { key: 'envoyOutput', flags: '--envoy-output <mode>', env: 'KUMA_DATAPLANE_RUNTIME_ENVOY_OUTPUT', defaultValue: 'raw', choices: ['raw', 'tagged', 'json'], description: "how Envoy's lines reach stdout: raw, tagged (prefixed 'envoy '), json (wrapped like our own --log-format json lines)" },
];
