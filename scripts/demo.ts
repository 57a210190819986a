/**
 * `npm run demo [-- --simulated-envoy] [-- --verbose]`: the whole kuma-dp loop on one machine. Starts
 * the dev control plane, a tiny example app and `kuma-dp run` against them, then narrates each step
 * (bootstrap, Envoy start, ADS, readiness, a request through Envoy, drain) and checks it happened.
 * Exits 0 only when every step did; on any failure or interrupt it stops everything it started.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { load as parse } from 'js-yaml';
import { PINNED_ENVOY_VERSION } from '../src/version.js';
import { installEnvoyDouble } from '../test/doubles/envoy-binary.js';
import { waitFor } from '../test/support/wait.js';
import { APP_GREETING, startExampleApp } from './demo/app.js';
import { Narrator } from './demo/narrator.js';
import { freePort, httpGet, type HttpReply } from './demo/net.js';
import { findEnvoyPid, findRealEnvoy, isAlive, startKumaDp, type KumaDpProcess } from './demo/processes.js';
import { startDevControlPlane } from './dev-cp/server.js';
import { TYPE_URL } from './dev-cp/xds-protos.js';

const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KUMA_DP = join(PACKAGE_ROOT, 'bin', 'kuma-dp');
const STEP_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;
const NAME = 'demo-1';
const NODE_ID = `default.${NAME}`;
const SIMULATED = 'simulated Envoy (test double), no traffic flows through it';

const DATAPLANE_TEMPLATE = `type: Dataplane
mesh: default
name: {{ name }}
networking:
  address: 127.0.0.1
  inbound:
  - port: {{ listenerPort }}
    servicePort: {{ appPort }}
    tags:
      kuma.io/service: demo-app
`;

/** An unsigned JWT: kuma-dp checks that the token parses, the dev control plane never verifies it. */
const DEMO_TOKEN = [{ alg: 'none', typ: 'JWT' }, { Name: NAME, Mesh: 'default' }]
  .map((part) => Buffer.from(JSON.stringify(part)).toString('base64url'))
  .join('.')
  .concat('.');

class StepFailed extends Error {}
class Interrupted extends Error {}

/** Things to undo, last first; each runs once whatever the others do. */
class Cleanup {
  private readonly tasks: (() => unknown)[] = [];

  add(task: () => unknown): void {
    this.tasks.push(task);
  }

  async run(): Promise<void> {
    for (const task of this.tasks.splice(0).reverse()) {
      try {
        await task();
      } catch {
        // Keep undoing the rest.
      }
    }
  }
}

const short = (typeUrl: string): string => typeUrl.slice(typeUrl.lastIndexOf('.') + 1);

/** Where the bootstrap kuma-dp wrote puts Envoy's admin API: a unix socket or host:port. */
function adminTarget(workDir: string): { url: string; socketPath?: string; shown: string } {
  const bootstrap = parse(readFileSync(join(workDir, 'bootstrap.yaml'), 'utf8')) as Record<string, any>;
  const address = bootstrap.admin?.address ?? {};
  const pipe = address.pipe?.path as string | undefined;
  if (pipe) return { url: 'http://localhost/ready', socketPath: pipe, shown: `unix socket ${pipe}` };
  const socket = address.socket_address ?? address.socketAddress ?? {};
  const hostPort = `${socket.address}:${socket.port_value ?? socket.portValue}`;
  return { url: `http://${hostPort}/ready`, shown: hostPort };
}

async function main(): Promise<number> {
  const options = new Command('demo')
    .description('Run kuma-dp against a dev control plane and an example app, narrating each step')
    .option('--simulated-envoy', `use the Envoy test double instead of a real Envoy (${SIMULATED})`)
    .option('--verbose', "show kuma-dp's and Envoy's own output as it comes")
    .parse()
    .opts<{ simulatedEnvoy?: boolean; verbose?: boolean }>();
  const say = new Narrator();
  const cleanup = new Cleanup();
  const interactive = Boolean(process.stdin.isTTY);

  // Signals: before the drain step they abort the demo; during it they are the drain itself.
  let phase: 'steps' | 'await-drain' | 'draining' = 'steps';
  let abort: (err: Error) => void = () => {};
  const aborted = new Promise<never>((_, reject) => (abort = reject));
  aborted.catch(() => {});
  let drainRequested: () => void = () => {};
  const drainSignal = new Promise<void>((resolve) => (drainRequested = resolve));
  let kumaDp: KumaDpProcess | undefined;
  let envoyPid: number | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (phase === 'await-drain') drainRequested();
    // A second Ctrl-C during the drain is kuma-dp's "skip the rest of the wait".
    else if (phase === 'draining') kumaDp?.child.kill(signal);
    else abort(new Interrupted(`${signal}: stopping everything the demo started`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A closed stdout (`npm run demo | head`) must not kill the demo before it has cleaned up.
  process.stdout.on('error', () => {});
  const root = mkdtempSync(join(tmpdir(), 'kuma-dp-demo-'));
  cleanup.add(() => rmSync(root, { recursive: true, force: true }));
  // Last resort if something throws past the cleanup: nothing of ours outlives the demo.
  process.on('exit', () => {
    for (const pid of [kumaDp?.child.pid, envoyPid]) if (pid && isAlive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });

  /** Waits for a step, giving up on an interrupt or when kuma-dp dies before its time. */
  const step = async <T>(work: Promise<T>): Promise<T> => {
    const died = kumaDp && phase !== 'draining'
      ? kumaDp.exited.then(({ code, signal }) => {
          throw new StepFailed(`kuma-dp exited early (${signal ?? `code ${code}`})`);
        })
      : new Promise<never>(() => {});
    return Promise.race([work, aborted, died]);
  };
  const poll = <T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>) =>
    step(waitFor(probe, { timeoutMs: STEP_TIMEOUT_MS, intervalMs: 25, what }).catch((err: Error) => Promise.reject(new StepFailed(err.message))));

  try {
    say.title(`kuma-dp demo: everything on 127.0.0.1, temporary files in ${root}`);
    let envoyBinary: string;
    if (options.simulatedEnvoy) {
      envoyBinary = installEnvoyDouble(root, { version: PINNED_ENVOY_VERSION });
      say.detail(`Envoy: ${SIMULATED}.`);
    } else {
      const real = await findRealEnvoy(KUMA_DP);
      if (!real) {
        say.fail('no Envoy binary found: there is no `envoy` on PATH and `kuma-dp envoy which` found none installed.');
        say.detail('Rerun with a simulated Envoy (a test double that plays Envoy, no traffic flows through it):');
        say.detail('    npm run demo -- --simulated-envoy');
        say.detail('or install a real one first: node bin/kuma-dp envoy install');
        return 1;
      }
      envoyBinary = real;
      say.detail(`Envoy: ${real}`);
    }

    const app = await startExampleApp();
    cleanup.add(() => app.close());
    const listenerPort = await freePort();
    const readinessPort = await freePort();
    const cp = await startDevControlPlane({
      port: 0,
      appPort: app.port,
      listenerPort,
      log: (line) => (options.verbose ? say.dim(`dev-cp  | ${line}`) : undefined),
    });
    cleanup.add(() => cp.close());
    say.say(`Dev control plane up: POST /bootstrap on ${cp.url}, ADS (gRPC) on ${cp.adsUrl}.`);
    say.detail(`Its snapshot: one listener on 127.0.0.1:${listenerPort} routing every request to the cluster "app".`);
    say.say(`Example app up on http://127.0.0.1:${app.port}/ (it answers "${APP_GREETING}").`);

    const workDir = join(root, 'work');
    const template = join(root, 'dataplane.yaml');
    const tokenFile = join(root, 'token');
    writeFileSync(template, DATAPLANE_TEMPLATE);
    writeFileSync(tokenFile, `${DEMO_TOKEN}\n`, { mode: 0o600 });
    const args = [
      'run',
      '--cp-address', cp.url,
      '--dataplane-file', template,
      '-v', `name=${NAME}`, '-v', `listenerPort=${listenerPort}`, '-v', `appPort=${app.port}`,
      '--dataplane-token-file', tokenFile,
      '--binary-path', envoyBinary,
      '--work-dir', workDir,
      '--drain-time', '10s',
      '--min-drain-time', '1s',
    ];
    // The user's own KUMA_* settings (and test-double knobs) must not change what the demo shows.
    const inherited = Object.entries(process.env).filter(([key]) => !/^(KUMA_|ENVOY_DOUBLE_)/.test(key));
    const env = {
      ...Object.fromEntries(inherited),
      KUMA_READINESS_PORT: String(readinessPort),
      ...(options.simulatedEnvoy ? { ENVOY_DOUBLE_ADS: '1' } : {}),
    };
    const started = startKumaDp(KUMA_DP, args, env, options.verbose ? (line) => say.dim(line) : undefined);
    kumaDp = started;
    cleanup.add(() => stopKumaDp(started, envoyPid));
    say.say(`Started kuma-dp (pid ${started.child.pid}) with its readiness reporter on port ${readinessPort}:`);
    say.detail(`KUMA_READINESS_PORT=${readinessPort} node ${relative(process.cwd(), KUMA_DP) || KUMA_DP} ${args.join(' ')}`);

    const request = await poll('kuma-dp to ask the dev control plane for its bootstrap', () =>
      cp.bootstrapRequests.find((r) => r.name === NAME),
    );
    say.say(`Bootstrap fetched: kuma-dp sent POST /bootstrap for ${request.mesh}.${request.name} (token ${request.token ? 'in the body' : 'absent'}),`);
    say.detail(`got Envoy's bootstrap back and writes it to ${join(workDir, 'bootstrap.yaml')}.`);

    envoyPid = await poll('kuma-dp to start Envoy', () => findEnvoyPid(started.child.pid!));
    say.say(`Envoy started, pid ${envoyPid}${options.simulatedEnvoy ? ` (${SIMULATED})` : ''}.`);

    const stream = await poll("Envoy's ADS stream to reach the dev control plane and get its listener, cluster and endpoints", () =>
      cp.streams.find((s) => s.nodeId === NODE_ID && Object.values(TYPE_URL).every((typeUrl) => (s.sent[typeUrl]?.length ?? 0) > 0)),
    );
    say.say(`Envoy's ADS stream reached the dev control plane: node ${stream.nodeId}, token ${stream.authorization ? 'present' : 'absent'}, ${stream.api} xDS.`);
    for (const [typeUrl, names] of Object.entries(stream.sent)) say.detail(`sent ${short(typeUrl)}: ${names.join(', ')}`);

    const readyUrl = `http://127.0.0.1:${readinessPort}/ready`;
    const ready = await poll<HttpReply>(`kuma-dp's readiness ${readyUrl} to answer 200`, async () => {
      const reply = await httpGet(readyUrl);
      return reply.status === 200 && reply;
    });
    say.say(`Ready: GET ${readyUrl} -> ${ready.status} ${ready.body}`);

    if (options.simulatedEnvoy) {
      const admin = adminTarget(workDir);
      const reply = await poll<HttpReply>(`Envoy's admin /ready on ${admin.shown}`, async () => {
        const r = await httpGet(admin.url, { socketPath: admin.socketPath });
        return r.status === 200 && r;
      });
      say.say(`No request through Envoy: this is the ${SIMULATED}.`);
      say.detail(`Its admin API instead: GET /ready on ${admin.shown} -> ${reply.status} ${reply.body}`);
    } else {
      const url = `http://127.0.0.1:${listenerPort}/`;
      const before = app.requests;
      const reply = await poll<HttpReply>(`a request through Envoy's listener ${url}`, async () => {
        const r = await httpGet(url);
        return r.status === 200 && r.body.startsWith(APP_GREETING) && r;
      });
      say.say(`Request through Envoy's listener: GET ${url} -> ${reply.status} "${reply.body}"`);
      say.detail(`The example app counted ${app.requests - before} request(s) arriving through Envoy.`);
    }

    if (interactive) {
      phase = 'await-drain';
      say.say('Press Ctrl-C to drain.');
      await step(drainSignal);
      say.detail(`Ctrl-C: sending SIGTERM to kuma-dp (pid ${started.child.pid}).`);
    } else {
      say.say(`Drain: stdin is not a terminal, so instead of waiting for Ctrl-C the demo sends SIGTERM to kuma-dp (pid ${started.child.pid}).`);
    }
    phase = 'draining';
    process.kill(started.child.pid!, 'SIGTERM');
    const terminating = await poll<HttpReply>('readiness to turn 503 TERMINATING', async () => {
      const reply = await httpGet(readyUrl, { timeoutMs: 500 });
      return reply.status === 503 && reply;
    });
    say.detail(`kuma-dp's readiness now says ${terminating.status} ${terminating.body}: load balancers stop sending traffic.`);
    const drainingEnvoy = envoyPid;
    await poll(`Envoy (pid ${drainingEnvoy}) to stop`, () => !isAlive(drainingEnvoy));
    say.detail(`Envoy (pid ${drainingEnvoy}) stopped.`);
    const exit = await Promise.race([
      started.exited,
      aborted,
      new Promise<never>((_, reject) => setTimeout(() => reject(new StepFailed('kuma-dp did not exit after Envoy stopped')), STEP_TIMEOUT_MS).unref()),
    ]);
    if (exit.code !== 0) throw new StepFailed(`kuma-dp exited with ${exit.signal ?? `code ${exit.code}`}, expected 0 after a drain`);
    say.detail('kuma-dp exited with code 0.');
    say.title('Done: every step happened. Cleaning up.');
    return 0;
  } catch (err) {
    if (err instanceof Interrupted) {
      say.fail(err.message);
      return 130;
    }
    say.fail(err instanceof StepFailed ? err.message : ((err as Error).stack ?? String(err)));
    const tail = kumaDp?.tail() ?? [];
    if (tail.length > 0 && !options.verbose) {
      say.detail(`last lines from kuma-dp and Envoy:`);
      for (const line of tail) say.dim(line);
    }
    return 1;
  } finally {
    await cleanup.run();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** SIGTERM (kuma-dp drains and stops Envoy), then SIGKILL to both if they are still there. */
async function stopKumaDp(kumaDp: KumaDpProcess, knownEnvoyPid: number | undefined): Promise<void> {
  const pid = kumaDp.child.pid;
  if (!pid) return;
  const envoyPid = knownEnvoyPid ?? (isAlive(pid) ? await findEnvoyPid(pid).catch(() => undefined) : undefined);
  if (kumaDp.child.exitCode === null && kumaDp.child.signalCode === null) {
    kumaDp.child.kill('SIGTERM');
    const timer = new Promise((resolve) => setTimeout(resolve, STOP_GRACE_MS).unref());
    await Promise.race([kumaDp.exited, timer]);
    if (kumaDp.child.exitCode === null && kumaDp.child.signalCode === null) kumaDp.child.kill('SIGKILL');
  }
  if (envoyPid && isAlive(envoyPid)) process.kill(envoyPid, 'SIGKILL');
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`demo: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
