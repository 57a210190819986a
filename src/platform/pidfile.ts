import { readFileSync, statSync } from 'node:fs';
import { rmAsync } from './fs-async.js';
import { join } from 'node:path';
import { BOOTSTRAP_FILE_NAME } from '../bootstrap/file.js';
import { writeFileAtomic } from './atomic-file.js';

/**
 * A pid file in the work dir names the Envoy a kuma-dp started, with the process start time, so
 * that a kuma-dp restarted after a crash can stop an Envoy left behind (kuma#686: the stale
 * one keeps ports and sockets) without ever signalling an unrelated process that reused the pid.
 */
export const PID_FILE = 'envoy.pid';

interface PidRecord {
  pid: number;
  startTime: string;
  configPath: string;
}

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses). */
export function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat: start time in clock ticks since boot. */
export function processStartTime(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

function commandLine(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

export async function writePidFile(workDir: string, pid: number, configPath: string): Promise<void> {
  const record: PidRecord = { pid, startTime: processStartTime(pid) ?? '', configPath };
  writeFileAtomic(join(workDir, PID_FILE), `${JSON.stringify(record)}\n`, 0o600);
}

export async function removePidFile(workDir: string): Promise<void> {
  await rmAsync(join(workDir, PID_FILE), { force: true });
}

/** The pid of a still-running Envoy recorded in the work dir, when it really is that process. */
export async function findStaleEnvoy(workDir: string): Promise<number | undefined> {
  let record: PidRecord;
  try {
    record = JSON.parse(readFileSync(join(workDir, PID_FILE), 'utf8')) as PidRecord;
  } catch {
    return undefined;
  }
  if (!Number.isInteger(record.pid) || record.pid <= 1) return undefined;
  // Only a file we wrote, naming this work dir's bootstrap, may make us signal anything.
  const owner = statSync(join(workDir, PID_FILE)).uid;
  if (owner !== process.getuid?.() || record.configPath !== join(workDir, BOOTSTRAP_FILE_NAME)) return undefined;
  const startTime = processStartTime(record.pid);
  if (!startTime || startTime !== record.startTime) return undefined;
  return commandLine(record.pid).includes(record.configPath) ? record.pid : undefined;
}

/**
 * Still running. A zombie is not: once the stale Envoy has exited it stays a zombie until whoever
 * adopted it reaps it, and a slow reaper (a container's PID 1 that is not an init) must not make
 * us wait out the kill grace for a process that is already gone.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return statFields(pid)?.[0] !== 'Z';
}

/** True when the process leads its own process group, as the Envoy we start does (setsid). */
export function leadsGroup(pid: number): boolean {
  return Number(statFields(pid)?.[2]) === pid;
}
