import { Command } from 'commander';
import { buildInfo, PINNED_ENVOY_VERSION } from '../version.js';

export function versionCommand(): Command {
  return new Command('version')
    .description('Print the version of kuma-dp')
    .option('-a, --detailed', 'print detailed version information')
    .action((options: { detailed?: boolean }) => {
      const info = buildInfo();
      if (!options.detailed) {
        process.stdout.write(`${info.product}: ${info.version}\n`);
        return;
      }
      process.stdout.write(
        [
          `Product:    ${info.product}`,
          `Version:    ${info.version}`,
          `Git Tag:    ${info.gitTag}`,
          `Git Commit: ${info.gitCommit}`,
          `Build Date: ${info.buildDate}`,
          `Envoy:      ${PINNED_ENVOY_VERSION} (tested)`,
          `Node.js:    ${process.version}`,
          '',
        ].join('\n'),
      );
    });
}
