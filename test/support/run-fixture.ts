import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { installEnvoyDouble } from '../doubles/envoy-binary.js';
import { startKumaCpDouble, type KumaCpDouble, type KumaCpDoubleOptions } from '../doubles/kuma-cp-double.js';
import { readRecord, type RecordEvent } from '../doubles/envoy-record.js';
import { cleanupTempDirs, makeTempDir } from './tmp.js';
import { waitFor } from './wait.js';
import { baseEnv, freePort, spawnKumaDp, type KumaDpProcess, type SpawnOptions } from './kuma-dp.js';

export const DATAPLANE_TEMPLATE = `type: Dataplane
mesh: default
name: {{ name }}
networking:
  address: {{ address }}
  inbound:
  - port: 11011
    servicePort: 11012
    tags:
      kuma.io/service: backend
      kuma.io/protocol: http
  admin:
    port: 9901
`;

/** A header.payload.signature token of the right shape; its text is searched for in every output. */
export const TOKEN =
  'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJOYW1lIjoid2ViLTEiLCJNZXNoIjoiZGVmYXVsdCIsInNlY3JldCI6InMzY3IzdC12YWx1ZSJ9.c2lnbmF0dXJlLXBhcnQtb2YtdGhlLXRva2Vu';

export interface RunFixture {
  dir: string;
  workDir: string;
  templatePath: string;
  tokenPath: string;
  envoyPath: string;
  recordPath: string;
  readinessPort: number;
  cp: KumaCpDouble;
  /** kuma-dp's env: fast retries, the readiness port, the double's record file. */
  env: NodeJS.ProcessEnv;
  /** `run` args for the template mode against the cp double with the Envoy double. */
  args(extra?: string[]): string[];
  start(extra?: string[], options?: SpawnOptions & { env?: NodeJS.ProcessEnv }): KumaDpProcess;
  record(): RecordEvent[];
  /** Resolves once the Envoy double reports LIVE; on timeout the error carries kuma-dp's stderr. */
  waitLive(dp: KumaDpProcess, count?: number): Promise<void>;
  close(): Promise<void>;
}

export async function runFixture(options: { cp?: KumaCpDoubleOptions; envoyEnv?: NodeJS.ProcessEnv; envoyVersion?: string } = {}): Promise<RunFixture> {
  const dir = makeTempDir('kuma-dp-run-');
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const envoyPath = installEnvoyDouble(bin, options.envoyVersion ? { version: options.envoyVersion } : {});
  const templatePath = join(dir, 'dataplane.yaml');
  writeFileSync(templatePath, DATAPLANE_TEMPLATE);
  const tokenPath = join(dir, 'token');
  writeFileSync(tokenPath, `${TOKEN}\n`, { mode: 0o600 });
  const recordPath = join(dir, 'envoy-record.jsonl');
  const workDir = join(dir, 'work');
  const readinessPort = await freePort();
  const cp = await startKumaCpDouble({ ...options.cp });
  const env = baseEnv({
    KUMA_READINESS_PORT: String(readinessPort),
    KUMA_CONTROL_PLANE_RETRY_BACKOFF: '50ms',
    KUMA_CONTROL_PLANE_RETRY_MAX_DURATION: '2s',
    ENVOY_DOUBLE_RECORD: recordPath,
    ENVOY_DOUBLE_STATE_DIR: dir,
    ...options.envoyEnv,
  });
  const args = (extra: string[] = []) => [
    'run',
    '--cp-address',
    cp.url,
    '--dataplane-file',
    templatePath,
    '-v',
    'name=web-1',
    '-v',
    'address=127.0.0.1',
    '--dataplane-token-file',
    tokenPath,
    '--binary-path',
    envoyPath,
    '--work-dir',
    workDir,
    '--drain-time',
    '2s',
    '--min-drain-time',
    '0s',
    '--envoy-restart',
    'never',
    ...extra,
  ];
  return {
    dir,
    workDir,
    templatePath,
    tokenPath,
    envoyPath,
    recordPath,
    readinessPort,
    cp,
    env,
    args,
    start: (extra = [], spawnOptions = {}) => spawnKumaDp(args(extra), { ...spawnOptions, env: { ...env, ...spawnOptions.env } }),
    record: () => {
      try {
        return readRecord(recordPath);
      } catch {
        return [];
      }
    },
    waitLive: async (dp, count = 1) => {
      const live = () => readRecord(recordPath).filter((e) => e.event === 'live').length >= count;
      await waitFor(() => live(), { timeoutMs: 20_000, what: `Envoy live (#${count})` }).catch((err: Error) => {
        throw new Error(`${err.message}; kuma-dp stderr:\n${dp.stderr()}`);
      });
    },
    close: () => cp.close(),
  };
}

/**
 * A fixture per describe block (or per test with `each`), closed and its temp dirs removed after:
 * `const fx = useRunFixture();` in the block, `fx()` in the tests. When the fixture could not be
 * made, the hook's own error is the one reported, not a TypeError from the cleanup.
 */
export function useRunFixture({ each = false }: { each?: boolean } = {}): () => RunFixture {
  let fx: RunFixture | undefined;
  (each ? beforeEach : before)(async () => {
    fx = await runFixture();
  });
  (each ? afterEach : after)(async () => {
    await fx?.close();
    fx = undefined;
    cleanupTempDirs();
  });
  return () => fx!;
}
