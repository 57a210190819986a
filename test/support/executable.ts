import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Writes a script (shebang included in `text`) or binary and makes it executable, creating its directory:
 * the stand-ins tests put where kuma-dp looks for Envoy, setpriv or a wrapper. chmod after the
 * write, because the umask narrows the mode given at creation.
 */
export function writeExecutable(path: string, text: string | Uint8Array, mode = 0o755): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}
