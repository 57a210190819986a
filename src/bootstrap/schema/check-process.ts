import { startupSnapshot } from 'node:v8';
import { validateBootstrap, warmUpSchema } from './validate.js';

/**
 * The schema check's own process (see background.ts): loads the schema at once, then validates
 * what kuma-dp sends over the IPC channel until kuma-dp lets go of it. scripts/bundle.ts also
 * builds it into a startup snapshot: the schema is loaded and warmed up at build time, and a
 * process started from the snapshot begins in the function given to setDeserializeMainFunction.
 */
if (startupSnapshot.isBuildingSnapshot()) {
  // A failure here fails the build, with its stack.
  warmUpSchema();
  startupSnapshot.setDeserializeMainFunction(() => {
    ownProcess();
    serve();
  });
} else {
  ownProcess();
  warmUpSchema();
  serve();
}

/** What the process does with signals and its own failures, set before the schema loads. */
function ownProcess(): void {
  // Ctrl-C reaches the whole process group; kuma-dp decides when the check ends, not the terminal.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => {});
  // A failure of the check itself reaches kuma-dp's error line as its own message, not a stack trace.
  process.on('uncaughtException', (err) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  });
}

function serve(): void {
  // kuma-dp closed the channel, or died: nothing will ask any more.
  process.on('disconnect', () => process.exit(0));
  process.on('message', (request: { id: number; document: unknown; source: string }) => {
    process.send!({ id: request.id, verdict: validateBootstrap(request.document, { source: request.source }) });
  });
}
