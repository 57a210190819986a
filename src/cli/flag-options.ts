import { Option, type Command } from 'commander';
import type { FlagSpec } from '../config/flag-spec.js';
import { INSTALL_FLAG_SPECS } from '../envoy/install/options.js';

/**
 * The flag table as commander options. Kept out of src/config so that code paths which never
 * parse a command line (the `envoy which` fast path) do not load commander.
 */
export function addFlagSpecs(cmd: Command, specs: readonly FlagSpec[]): Command {
  for (const spec of specs) {
    if (!spec.flags) continue;
    const details = [spec.description];
    if (spec.env) details.push(`env ${spec.env}`);
    if (spec.defaultValue !== undefined && spec.defaultValue !== '') details.push(`default ${spec.defaultValue}`);
    const option = new Option(spec.flags, details.join('; '));
    if (spec.repeatable) option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
    cmd.addOption(option);
  }
  return cmd;
}

export function addInstallOptions(cmd: Command): Command {
  return addFlagSpecs(cmd, INSTALL_FLAG_SPECS);
}
