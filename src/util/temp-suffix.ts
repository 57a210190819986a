/**
 * Twelve hex digits that tell apart the temp files of writers working side by side, also across
 * containers where two kuma-dp processes have the same pid. Not node:crypto's randomBytes: loading
 * crypto costs ~4 ms of every start, and a collision only makes the exclusive open ('wx') fail.
 */
export function tempSuffix(): string {
  return Math.floor(Math.random() * 2 ** 48)
    .toString(16)
    .padStart(12, '0');
}
