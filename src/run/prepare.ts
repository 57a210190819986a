import { readFileAsync } from '../platform/fs-async.js';
import { dirname } from 'node:path';
import { ConfigError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import type { RunSettings } from '../config/run-settings.js';
import { describeTemplateSource, parseDataplaneVars, readTemplateSource, renderDataplane, type RenderedDataplane } from '../dataplane/template.js';
import { effectiveName } from '../dataplane/name.js';
import { validateToken, validateTokenFile, writeInlineToken } from '../token/token.js';
import { fsErrorReason } from '../platform/fs-errors.js';
import { parseCaBundle } from '../bootstrap/ca-bundle.js';
import type { InstallSettings } from '../envoy/install/options.js';
import { resolveEnvoyBinary } from '../envoy/install/ensure-envoy.js';
import { isCompatible, parseEnvoyVersion, readEnvoyVersion, type EnvoyVersion } from '../envoy/version.js';
import type { VersionRun } from '../envoy/version-run.js';
import { PINNED_ENVOY_VERSION } from '../version.js';
import { prepareWorkDir, type WorkDir } from '../platform/workdir.js';
import { detectMaxMemoryBytes, detectSystemCaPath } from '../bootstrap/remote/host-facts.js';

/** What every bootstrap source needs, found and checked before any network call. */
export interface Prepared {
  mesh: string;
  name: string;
  dataplane: RenderedDataplane | undefined;
  workDir: WorkDir;
  /** The token file sent as `dataplaneTokenPath` and re-read on every attempt. */
  tokenPath: string | undefined;
  caCertPem: string | undefined;
  envoyBinary: string;
  /** How envoyBinary was found, for the log. */
  envoySource: string;
  envoy: EnvoyVersion & { compatible: boolean };
  /**
   * Set while `envoy` is only what this binary printed the last time (the memo in
   * src/cli/early-start.ts): its `--version` still runs, and confirmEnvoyVersion() says what it
   * printed this time.
   */
  envoyRecalled?: Promise<EnvoyVersion> | undefined;
  /** Read while the rest is prepared; only the bootstrap needs them. */
  hostFacts: Promise<HostFacts>;
}

export interface HostFacts {
  systemCaPath: string;
  maxHeapSizeBytes: number;
}

export interface PrepareContext {
  settings: RunSettings;
  install: InstallSettings;
  inlineToken: string | undefined;
  env: NodeJS.ProcessEnv;
  cwd: string;
  logger: Logger;
  signal: AbortSignal;
  stdin: () => NodeJS.ReadableStream;
  selfPath: string;
  /** `--version` started by the launcher; used when it ran the binary found here. */
  envoyVersionRun?: VersionRun | undefined;
  /** Called when prepare is left waiting for Envoy's `--version`: the caller's own work can run meanwhile. */
  whileWaitingForEnvoy?: (() => void) | undefined;
  /** Called as soon as the work dir exists, before prepare has finished. */
  onWorkDir?: ((workDir: WorkDir) => void) | undefined;
}

async function loadDataplane(ctx: PrepareContext): Promise<RenderedDataplane | undefined> {
  const { settings } = ctx;
  const source = { file: settings.dataplaneFile, inline: settings.dataplaneInline };
  const template = await readTemplateSource({ ...source, stdin: ctx.stdin });
  if (template === undefined) return undefined;
  const rendered = renderDataplane(template, parseDataplaneVars(settings.dataplaneVars), describeTemplateSource(source));
  ctx.logger.info('rendered resource', { type: rendered.type, mesh: rendered.mesh, name: rendered.name });
  return rendered;
}

/** The control plane CA, checked here so that a bad one is exit 2 on the local path too, not an Envoy failure later. */
async function loadCaCert(ctx: PrepareContext): Promise<string | undefined> {
  const pem = await readCaCert(ctx);
  if (pem !== undefined) parseCaBundle(pem);
  return pem;
}

async function readCaCert(ctx: PrepareContext): Promise<string | undefined> {
  const fromEnv = ctx.env.KUMA_CONTROL_PLANE_CA_CERT;
  if (fromEnv) return fromEnv;
  if (!ctx.settings.caCertFile) return undefined;
  try {
    return await readFileAsync(ctx.settings.caCertFile, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the control plane CA --ca-cert-file ${ctx.settings.caCertFile}: ${fsErrorReason(err)}`, {
      hint: 'point --ca-cert-file at a readable PEM file',
    });
  }
}

interface LocatedEnvoy {
  envoyBinary: string;
  source: string;
  version: EnvoyVersion;
  /** `version` is the recalled one; this is the binary's answer now. */
  answer?: Promise<EnvoyVersion>;
}

async function locateEnvoy(ctx: PrepareContext): Promise<LocatedEnvoy> {
  const { path: envoyBinary, source } = await resolveEnvoyBinary({
    binaryPath: ctx.settings.binaryPath,
    install: ctx.install,
    cwd: ctx.cwd,
    selfDir: dirname(ctx.selfPath),
    env: ctx.env,
    logger: ctx.logger,
    signal: ctx.signal,
  });
  const recalled = ctx.envoyVersionRun?.binary === envoyBinary ? recalledVersion(ctx.envoyVersionRun.recalled) : undefined;
  const answer = readEnvoyVersion(envoyBinary, undefined, ctx.envoyVersionRun);
  if (recalled === undefined) return { envoyBinary, source, version: await answer };
  // Awaited later (confirmEnvoyVersion), maybe after it failed: not an unhandled rejection meanwhile.
  answer.catch(() => {});
  return { envoyBinary, source, version: recalled, answer };
}

function recalledVersion(output: string | undefined): EnvoyVersion | undefined {
  if (output === undefined) return undefined;
  try {
    return parseEnvoyVersion(output);
  } catch {
    return undefined;
  }
}

/** Logs the version and kuma-dp's compatibility verdict on it. */
function checkCompatibility(version: EnvoyVersion, binary: string, source: string, logger: Logger): boolean {
  const compatible = isCompatible(PINNED_ENVOY_VERSION, version.version);
  if (compatible === false) logger.info('Envoy version incompatible', { expected: PINNED_ENVOY_VERSION, current: version.version });
  else logger.info('fetched Envoy version', { version: version.version, binary, source });
  return compatible ?? false;
}

/**
 * The prepared run with Envoy's own answer to `--version` (prepared.envoyRecalled), and whether
 * it differs from the recalled version the bootstrap was asked for with. Throws what a failing
 * `--version` throws in prepare().
 */
export async function confirmEnvoyVersion(prepared: Prepared, answer: Promise<EnvoyVersion>, logger: Logger): Promise<{ prepared: Prepared; changed: boolean }> {
  const version = await answer;
  const compatible = checkCompatibility(version, prepared.envoyBinary, prepared.envoySource, logger);
  const changed = version.build !== prepared.envoy.build;
  return { prepared: { ...prepared, envoy: { ...version, compatible }, envoyRecalled: undefined }, changed };
}

/**
 * Everything that can be wrong with the configuration is found here, before the first request:
 * a broken template, token or Envoy binary is exit 2 at once, not five minutes of retries.
 */
export async function prepare(ctx: PrepareContext): Promise<Prepared> {
  const { settings, logger } = ctx;
  // Start-up latency delays every deploy: the host facts are read and Envoy answers --version while
  // the template and token are checked. An install (--envoy-version) waits until those are known good.
  const hostFacts = Promise.all([detectSystemCaPath(), detectMaxMemoryBytes()]).then(([systemCaPath, maxHeapSizeBytes]) => ({ systemCaPath, maxHeapSizeBytes }));
  const early = ctx.install.envoyVersion ? undefined : locateEnvoy(ctx);
  let located = false;
  early?.then(
    () => (located = true),
    () => (located = true),
  );
  const dataplane = await loadDataplane(ctx);
  const mesh = dataplane?.mesh ?? settings.mesh!;
  const name = dataplane?.name ?? effectiveName(settings.name, ctx.env);

  // An inline token is checked before it is written anywhere: a bad one must not be left on disk.
  if (ctx.inlineToken) validateToken(ctx.inlineToken);
  else if (settings.tokenFile) await validateTokenFile(settings.tokenFile);
  const caCertPem = await loadCaCert(ctx);

  // Made while `--version` runs: Envoy's answer is what the start waits for here.
  const workDir = await prepareWorkDir(settings.workDir);
  ctx.onWorkDir?.(workDir);
  // What failed is what is reported, also when the work dir cannot be removed.
  const discardWorkDir = async (err: unknown): Promise<never> => {
    await workDir.cleanup().catch(() => {});
    throw err;
  };
  if (early && !located) ctx.whileWaitingForEnvoy?.();
  const { envoyBinary, source, version, answer } = await (early ?? locateEnvoy(ctx)).catch(discardWorkDir);
  // A recalled version is logged once Envoy has confirmed it (confirmEnvoyVersion).
  const compatible = answer ? (isCompatible(PINNED_ENVOY_VERSION, version.version) ?? false) : checkCompatibility(version, envoyBinary, source, logger);

  let tokenPath = settings.tokenFile;
  if (ctx.inlineToken) {
    if (settings.tokenFile) logger.warn('both --dataplane-token and --dataplane-token-file are set; using the inline token, as kuma-dp does');
    tokenPath = await writeInlineToken(workDir.path, name, ctx.inlineToken).catch(async (err) => {
      // A failing --version comes first, as when it is awaited first.
      await answer?.catch(discardWorkDir);
      return discardWorkDir(err);
    });
  }
  return { mesh, name, dataplane, workDir, tokenPath, caCertPem, envoyBinary, envoySource: source, envoy: { ...version, compatible }, envoyRecalled: answer, hostFacts };
}
