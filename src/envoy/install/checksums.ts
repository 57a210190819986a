const BEGIN_MESSAGE = '-----BEGIN PGP SIGNED MESSAGE-----';
const BEGIN_SIGNATURE = '-----BEGIN PGP SIGNATURE-----';

/**
 * The signed text of a PGP clear-signed message (RFC 4880 §7): after the armor header and its
 * `Hash:` lines up to the first blank line, before the signature, with dash-escaping undone.
 * Text that is not clear-signed is returned as is: the signature is not checked anyway, only the sums.
 */
export function clearSignedBody(text: string): string {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const begin = lines.findIndex((l) => l.trim() === BEGIN_MESSAGE);
  if (begin < 0) return text;
  let i = begin + 1;
  while (i < lines.length && lines[i]!.trim() !== '') i++;
  const body: string[] = [];
  for (i++; i < lines.length && lines[i]!.trim() !== BEGIN_SIGNATURE; i++) {
    const line = lines[i]!;
    body.push(line.startsWith('- ') ? line.slice(2) : line);
  }
  return body.join('\n');
}

/** `sha256sum` lines (`<hex>  <name>` or binary-mode `<hex> *<name>`) as base name → lower-case hex. */
export function parseSha256Sums(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of clearSignedBody(text).split('\n')) {
    const match = /^([0-9a-fA-F]{64}) [ *](.+)$/.exec(line.trim());
    if (match) sums.set(match[2]!.trim().split('/').pop()!, match[1]!.toLowerCase());
  }
  return sums;
}
