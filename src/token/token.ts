import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../platform/atomic-file.js';
import { fsErrorReason } from '../platform/fs-errors.js';
import { ConfigError } from '../errors.js';

/** kuma-dp's prefix for every token problem found at startup. */
export const TOKEN_INVALID_PREFIX =
  'dataplane token is invalid, in Kubernetes you must mount a serviceAccount token, in universal you must start your proxy with a generated token.';

/** The signing methods golang-jwt registers; kuma-dp's parser rejects any other `alg`. */
const KNOWN_ALGS = new Set([
  'HS256', 'HS384', 'HS512',
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA', 'none',
]);

const BASE64URL_RAW = /^[A-Za-z0-9_-]*$/;

function invalid(reason: string): ConfigError {
  return new ConfigError(`${TOKEN_INVALID_PREFIX}: ${reason}`);
}

/** Decodes one JWT segment as golang-jwt does by default (unpadded base64url), or undefined. */
function decodeSegment(segment: string): string | undefined {
  if (!BASE64URL_RAW.test(segment) || segment.length % 4 === 1) return undefined;
  return Buffer.from(segment, 'base64url').toString('utf8');
}

function decodeJsonObject(text: string): Record<string, unknown> | null | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (value === null) return null;
    return typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why `token` is not a JWT kuma's control plane could accept, or undefined. The messages follow
 * golang-jwt's ParseUnverified but never quote any part of the token: parser errors that echo
 * input (JSON.parse's do) are replaced by the step that failed.
 */
function jwtProblem(token: string): string | undefined {
  const malformed = (what: string) => `not valid JWT token. Can't parse it.: token is malformed: ${what}`;
  const parts = token.split('.');
  if (parts.length !== 3) return malformed('token contains an invalid number of segments');
  const headerText = decodeSegment(parts[0]!);
  if (headerText === undefined) return malformed('could not base64 decode header');
  const header = decodeJsonObject(headerText);
  if (header === undefined) return malformed('could not JSON decode header');
  const claimsText = decodeSegment(parts[1]!);
  if (claimsText === undefined) return malformed('could not base64 decode claim');
  if (decodeJsonObject(claimsText) === undefined) return malformed('could not JSON decode claim');
  const alg = header?.alg;
  if (typeof alg !== 'string') return "not valid JWT token. Can't parse it.: token is unverifiable: signing method (alg) is unspecified";
  if (!KNOWN_ALGS.has(alg)) return "not valid JWT token. Can't parse it.: token is unverifiable: signing method (alg) is unavailable";
  return undefined;
}

/**
 * kuma-dp's startup check of a token file: it exists and is not empty; once trimmed, the token
 * has no NUL, CR or LF inside; and it parses as a JWT (unverified) with an `alg`. Errors are
 * ConfigErrors with kuma-dp's prefix and never contain the token.
 */
export async function validateTokenFile(path: string): Promise<void> {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (err) {
    throw invalid(`could not read file ${path}: ${fsErrorReason(err)}`);
  }
  if (size === 0) throw invalid(`token under file ${path} is empty`);
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (err) {
    throw invalid(`could not read the token in the file ${path}: ${fsErrorReason(err)}`);
  }
  validateToken(raw);
}

/** The checks of validateTokenFile on a token in hand (an inline --dataplane-token), before it is stored anywhere. */
export function validateToken(raw: string): void {
  const token = raw.trim();
  if (/[\0\r\n]/.test(token)) throw invalid("Token shouldn't contain line breaks within the token, only at the start or end");
  const problem = jwtProblem(token);
  if (problem) throw invalid(problem);
}

/** The token as sent to the control plane: the file's content, trimmed, read afresh on every call. */
export async function readToken(path: string): Promise<string> {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new Error(`could not read the dataplane token file ${path}: ${fsErrorReason(err)}`);
  }
}

/**
 * Stores an inline `--dataplane-token`, already validated, as `<workDir>/<name>` (0600,
 * atomically), kuma-dp's layout, and returns the path, which then serves as the token path.
 */
export async function writeInlineToken(workDir: string, name: string, token: string): Promise<string> {
  if (name === '' || name === '.' || name === '..' || /[/\0]/.test(name)) {
    throw new ConfigError(`cannot store the inline dataplane token: the dataplane name "${name}" is not a usable file name`, {
      hint: 'give the dataplane a name without "/" (--name or the template), or use --dataplane-token-file',
    });
  }
  const path = join(workDir, name);
  writeFileAtomic(path, token, 0o600);
  return path;
}
