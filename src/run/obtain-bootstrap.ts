import { ExitCode, KumaDpError } from '../errors.js';
import { parseYaml } from '../bootstrap/schema/yaml.js';
import { validateBootstrap } from '../bootstrap/schema/validate.js';
import type { Logger } from '../logging/logger.js';
import type { RunSettings } from '../config/run-settings.js';
import { buildBootstrapRequest, DEFAULT_FEATURE_FLAGS, featureList, serializeBootstrapRequest } from '../bootstrap/remote/request.js';
import { detectIpv6 } from '../bootstrap/remote/host-facts.js';
import { fetchBootstrap } from '../bootstrap/remote/client.js';
import { toRestResourceJson } from '../dataplane/template.js';
import { readToken } from '../token/token.js';
import { buildInfo } from '../version.js';
import type { Prepared } from './prepare.js';

export interface ObtainedBootstrap {
  yaml: string;
  document: Record<string, unknown>;
  /**
   * The data plane's own address: the control plane's word for it (kumaSidecarConfiguration),
   * else the template's. Decides IPv4 or IPv6 for the readiness reporter (Kubernetes has no template).
   */
  dataplaneAddress: string | undefined;
}

export interface ObtainContext {
  settings: RunSettings;
  prepared: Prepared;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  signal: AbortSignal;
  /** Called when the bootstrap request has been sent to the control plane (remote only). */
  onRequestSent?: () => void;
}

async function remoteBootstrap(ctx: ObtainContext): Promise<Parsed> {
  const { settings, prepared, env, logger } = ctx;
  const { systemCaPath, maxHeapSizeBytes } = await prepared.hostFacts;
  const features = { ...DEFAULT_FEATURE_FLAGS };
  const buildBody = async () =>
    serializeBootstrapRequest(
      buildBootstrapRequest({
        mesh: prepared.mesh,
        name: prepared.name,
        proxyType: settings.proxyType,
        token: prepared.tokenPath ? await readToken(prepared.tokenPath) : undefined,
        tokenPath: prepared.tokenPath,
        dataplaneResourceJson: prepared.dataplane ? toRestResourceJson(prepared.dataplane.resource) : undefined,
        kumaDp: buildInfo(),
        envoy: { version: prepared.envoy.version, build: prepared.envoy.build, compatible: prepared.envoy.compatible },
        caCert: prepared.caCertPem ?? '',
        hostIp: env.HOST_IP,
        // No embedded DNS proxy here: omitting the port keeps the control plane from pointing Envoy at one.
        dnsPort: 0,
        readinessPort: settings.readinessPort,
        appProbeProxyPort: 0,
        os: process.platform,
        features,
        maxHeapSizeBytes,
        workdir: prepared.workDir.path,
        metricsCertPath: '',
        metricsKeyPath: '',
        systemCaPath,
        ipv6Enabled: detectIpv6(true),
        spireSocketPath: '',
      }),
    );
  logger.info('fetching bootstrap configuration', { cpAddress: settings.cpAddress.href });
  const response = await fetchBootstrap({
    cpAddress: settings.cpAddress,
    buildBody,
    caCertPem: prepared.caCertPem,
    skipVerify: settings.skipVerify,
    retryBackoffMs: settings.retryBackoffMs,
    retryMaxDurationMs: settings.retryMaxDurationMs,
    signal: ctx.signal,
    logger: logger.child('dataplane'),
    features: featureList(features),
    onRequestSent: ctx.onRequestSent,
  });
  const parsed = parseYaml(response.bootstrapYaml);
  if ('error' in parsed) {
    throw new KumaDpError(`the control plane's bootstrap ${parsed.refused ? 'is refused' : 'is not valid YAML'}: ${parsed.error}`, { hint: 'check the control plane version and logs' });
  }
  return { yaml: response.bootstrapYaml, document: parsed.value, dataplaneAddress: response.sidecar.networking?.address ?? templateAddress(ctx) };
}

/** The bootstrap as text and as parsed, with the data plane address that came with it. */
interface Parsed {
  yaml: string;
  document: unknown;
  dataplaneAddress: string | undefined;
}

function templateAddress(ctx: ObtainContext): string | undefined {
  const address = (ctx.prepared.dataplane?.resource.networking as { address?: unknown } | undefined)?.address;
  return typeof address === 'string' ? address : undefined;
}

async function localBootstrap(ctx: ObtainContext): Promise<Parsed> {
  const { settings, prepared } = ctx;
  const { renderLocalBootstrap } = await import('../bootstrap/local/generate.js');
  const { text, document } = renderLocalBootstrap({
    cpAddress: settings.cpAddressText,
    mesh: prepared.mesh,
    name: prepared.name,
    dataplane: prepared.dataplane?.resource,
    token: prepared.tokenPath ? await readToken(prepared.tokenPath) : undefined,
    workdir: prepared.workDir.path,
    caCertPem: prepared.caCertPem,
    systemCaPath: (await prepared.hostFacts).systemCaPath,
    kumaDpVersion: buildInfo().version,
    envoyVersion: prepared.envoy.version,
    features: featureList(DEFAULT_FEATURE_FLAGS),
    readinessPort: settings.readinessPort,
    dnsPort: 0,
    templatePath: settings.bootstrapTemplate,
  });
  return { yaml: text, document, dataplaneAddress: templateAddress(ctx) };
}

/**
 * The bootstrap from the control plane or from the local templates, checked against Envoy's
 * schema before Envoy ever sees it: a bad field is named here instead of in Envoy's exit.
 */
export async function obtainBootstrap(ctx: ObtainContext): Promise<ObtainedBootstrap> {
  const local = ctx.settings.bootstrap === 'local';
  const origin = local ? 'the locally generated bootstrap' : "the control plane's bootstrap";
  // A local bootstrap that fails the schema is the template's fault (exit 2); the control plane's is its own (exit 1).
  const blame = local ? ExitCode.USAGE : ExitCode.FAILURE;
  const { yaml, document, dataplaneAddress } = local ? await localBootstrap(ctx) : await remoteBootstrap(ctx);
  const verdict = validateBootstrap(document, { source: origin });
  if (!verdict.ok) {
    const first = verdict.problems[0]!;
    throw new KumaDpError(`${origin} fails Envoy's schema at ${first.path}: ${first.message}`, {
      exitCode: blame,
      hint: local ? 'fix the bootstrap template (--bootstrap-template)' : 'the control plane sent a bootstrap this Envoy cannot load; check kuma-cp and Envoy versions',
    });
  }
  ctx.logger.info('received bootstrap configuration', { source: local ? 'local' : 'control plane' });
  return { yaml, document: document as Record<string, unknown>, dataplaneAddress };
}
