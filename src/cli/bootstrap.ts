import { readFileAsync } from '../platform/fs-async.js';
import { Command } from 'commander';
import { ConfigError, KumaDpError } from '../errors.js';
import { fsErrorReason } from '../platform/fs-errors.js';
import type { CliContext } from './context.js';
import { addRunOptions, resolveRun } from './run.js';

function generateCommand(context: () => CliContext): Command {
  return addRunOptions(new Command('generate').description('Print the bootstrap that `run --bootstrap local` would write')).action(
    async (_options, cmd: Command) => {
      const ctx = context();
      const resolved = resolveRun(cmd, ctx);
      const settings = { ...resolved.settings, bootstrap: 'local' as const };
      const logger = ctx.logger.child('bootstrap');
      const [{ prepare }, { obtainBootstrap }] = await Promise.all([import('../run/prepare.js'), import('../run/obtain-bootstrap.js')]);
      const prepared = await prepare({ ...resolved, settings, env: ctx.env, cwd: ctx.cwd, logger, signal: new AbortController().signal, stdin: () => process.stdin, selfPath: ctx.selfPath });
      try {
        const bootstrap = await obtainBootstrap({ settings, prepared, env: ctx.env, logger, signal: new AbortController().signal });
        process.stdout.write(bootstrap.yaml);
      } finally {
        await prepared.workDir.cleanup();
      }
    },
  );
}

function validateCommand(): Command {
  return new Command('validate')
    .description("Check a bootstrap file against Envoy's v3 schema; exit 0, or 1 naming the field")
    .argument('<file>', 'bootstrap file (YAML or JSON)')
    .action(async (file: string) => {
      let text: string;
      try {
        text = await readFileAsync(file, 'utf8');
      } catch (err) {
        throw new ConfigError(`cannot read bootstrap file ${file}: ${fsErrorReason(err)}`, { hint: 'pass the path of a bootstrap YAML or JSON file' });
      }
      const { validateBootstrapYaml } = await import('../bootstrap/schema/validate.js');
      const verdict = validateBootstrapYaml(text, file);
      if (!verdict.ok) {
        const first = verdict.problems[0]!;
        throw new KumaDpError(`${file}: ${first.path}: ${first.message}`, { exitCode: 1 });
      }
      process.stdout.write(`${file}: valid Envoy v3 bootstrap\n`);
    });
}

export function bootstrapCommand(context: () => CliContext): Command {
  return new Command('bootstrap')
    .description('Generate or validate Envoy bootstraps')
    .addCommand(generateCommand(context))
    .addCommand(validateCommand());
}
