/** The one line every failure ends in, on stderr: `Error: ...`, or a JSON record with --log-format json. */
export function fatalLine(message: string, format: string | undefined): void {
  const line = message.replace(/\s*\n\s*/g, ' ');
  const text =
    format === 'json'
      ? JSON.stringify({ time: new Date().toISOString(), level: 'error', logger: 'kuma-dp', message: line })
      : `Error: ${line}`;
  try {
    process.stderr.write(`${text}\n`);
  } catch {
    // Nowhere left to say it; the exit code still tells.
  }
}

/** Why a command's answer was lost: whoever read kuma-dp's stdout closed it first (EPIPE). */
export const OUTPUT_CLOSED = 'could not write the answer: the reader of stdout has closed it';
