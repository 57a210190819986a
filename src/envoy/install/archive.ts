import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { Parser, type ReadEntry } from 'tar';
import { ConfigError, KumaDpError } from '../../errors.js';
import { cacheWriteError } from './cache.js';
import { formatBytes } from './progress.js';

const XZ = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
/** func-e's layout: one top directory, the binary at `<top>/bin/envoy`. */
const ENVOY_ENTRY = /^(?:\.\/)?[^/]+\/bin\/envoy$/;
const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);

export interface ExtractOptions {
  /** Where the archive came from, for messages. */
  source: string;
  /** Cap on the sum of all entry sizes. */
  maxBytes: number;
}

async function magic(path: string): Promise<Buffer> {
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(6);
    const { bytesRead } = await file.read(head, 0, head.length, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}

/** Node has no xz decoder and none is among our dependencies, so .tar.xz goes through `xz -dc`. */
function xzStream(path: string, source: string, fail: (err: Error) => void): { stream: Readable; stop: () => void } {
  const xz = spawn('xz', ['-dc', '--', path], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  xz.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  xz.on('error', (err: NodeJS.ErrnoException) => {
    fail(
      err.code === 'ENOENT'
        ? new ConfigError(`cannot unpack ${source}: it is a .tar.xz archive and the xz program is not installed`, {
            hint: 'install xz (Debian/Ubuntu: xz-utils), or use a versions index with .tar.gz tarballs',
          })
        : err,
    );
  });
  xz.on('close', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM') fail(new KumaDpError(`xz failed to unpack ${source}: ${stderr.trim() || `exit ${code ?? signal}`}`));
  });
  return { stream: xz.stdout, stop: () => xz.kill('SIGTERM') };
}

/**
 * Writes the archive's `*\/bin/envoy` to `dest` and nothing else. The whole archive is refused if
 * any entry has an absolute path, a `..` component, is a symbolic or hard link, or if the
 * entries add up to more than `maxBytes`: an Envoy tarball has none of these, so any of them means
 * a broken or hostile source.
 */
export async function extractEnvoyBinary(archive: string, dest: string, { source, maxBytes }: ExtractOptions): Promise<void> {
  // By content, not by name, as func-e does: tar's parser detects gzip itself.
  const isXz = (await magic(archive)).equals(XZ);

  await new Promise<void>((resolve, reject) => {
    let settled = false;
    let input: { stream: Readable; stop: () => void };
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      input?.stop();
      reject(err instanceof KumaDpError ? err : new KumaDpError(`cannot unpack ${source}: ${err.message}`, { cause: err }));
    };
    const refuse = (why: string): void =>
      fail(new KumaDpError(`refusing the archive ${source}: ${why}`, { hint: 'check --envoy-versions-url; the tarball should hold only <dir>/bin/envoy and plain files' }));

    const parser = new Parser({ strict: true });
    let total = 0;
    let found = false;
    let writing: Promise<void> = Promise.resolve();
    parser.on('entry', (entry: ReadEntry) => {
      const path = entry.path;
      if (settled) return entry.resume();
      if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) return refuse(`it contains the absolute path ${path}`);
      if (path.split(/[/\\]/).includes('..')) return refuse(`it contains the path ${path}, which leaves the archive`);
      if (entry.type === 'SymbolicLink' || entry.type === 'Link') {
        return refuse(`it contains a ${entry.type === 'Link' ? 'hard' : 'symbolic'} link ${path} -> ${entry.linkpath ?? ''}`);
      }
      total += entry.size;
      if (total > maxBytes) return refuse(`its contents exceed ${formatBytes(maxBytes)}`);
      if (!ENVOY_ENTRY.test(path) || !FILE_TYPES.has(entry.type)) return entry.resume();
      if (found) return refuse(`it contains more than one envoy binary (${path})`);
      found = true;
      const out = createWriteStream(dest, { mode: 0o600 });
      writing = new Promise((done, broken) => {
        out.on('close', done);
        out.on('error', broken);
      });
      // A full or read-only cache: the archive is not to blame.
      writing.catch((err: NodeJS.ErrnoException) => fail(cacheWriteError(dest, err)));
      entry.pipe(out);
    });
    parser.on('error', (err: Error) => fail(err));
    parser.on('end', () => {
      writing.then(() => {
        if (settled) return;
        if (!found) return refuse('it has no <dir>/bin/envoy entry');
        settled = true;
        resolve();
      }, fail);
    });

    if (isXz) {
      input = xzStream(archive, source, fail);
    } else {
      const stream = createReadStream(archive);
      input = { stream, stop: () => stream.destroy() };
    }
    input.stream.on('error', fail);
    input.stream.pipe(parser);
  });
}
