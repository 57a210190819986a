import { readFileSync } from 'node:fs';
import Mustache from 'mustache';
import { ConfigError } from '../../errors.js';
import { parseYaml } from '../schema/yaml.js';
import { bootstrapView, type LocalBootstrapInput } from './view.js';
import { packagePath } from '../../package-root.js';

export { ADMIN_SOCKET_NAME, type LocalBootstrapInput } from './view.js';

/** The user-visible template shipped in the package: dist/src/bootstrap/local/ → envoy-bootstrap/. */
export const DEFAULT_TEMPLATE_PATH = packagePath('envoy-bootstrap', 'bootstrap.yaml.mustache');

const TEMPLATE_HINT = 'pass an existing file to --bootstrap-template, or leave the flag out for the built-in envoy-bootstrap/bootstrap.yaml.mustache';

/**
 * The Envoy bootstrap YAML for `--bootstrap local`: the template rendered with a view computed
 * from the input. Reads only the template; the result still has to pass validateBootstrapYaml.
 * The text holds the dataplane token when one is given: write it 0600 and never log it.
 */
export function generateLocalBootstrap(input: LocalBootstrapInput): string {
  return renderLocalBootstrap(input).text;
}

/** generateLocalBootstrap, with the document the text parses to (checking it parses is part of rendering). */
export function renderLocalBootstrap(input: LocalBootstrapInput): { text: string; document: unknown } {
  const templatePath = input.templatePath ?? DEFAULT_TEMPLATE_PATH;
  const view = bootstrapView(input);
  let template: string;
  try {
    template = readFileSync(templatePath, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the bootstrap template ${templatePath} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { hint: TEMPLATE_HINT });
  }
  let text: string;
  try {
    text = Mustache.render(template, view, {}, { escape: yamlValue });
  } catch (err) {
    throw new ConfigError(`the bootstrap template ${templatePath} is not a valid Mustache template: ${(err as Error).message}`, {
      hint: 'match every {{#section}} and {{^section}} with its {{/section}}',
    });
  }
  const parsed = parseYaml(text);
  if ('error' in parsed) {
    throw new ConfigError(`the bootstrap template ${templatePath} renders ${parsed.refused ? 'YAML kuma-dp refuses:' : 'invalid YAML at'} ${parsed.error}`, {
      hint: 'fix the template; variables already render as quoted YAML values, so do not quote them again',
    });
  }
  return { text, document: parsed.value };
}

/**
 * How every {{variable}} renders: strings as JSON double-quoted strings (valid YAML, so no value
 * can break the document), lists and maps as flow collections. The blanks after ":" and ","
 * are for YAML parsers older than 1.2, which need them even after a quoted key.
 */
function yamlValue(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(yamlValue).join(', ')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    return `{${entries.map(([key, v]) => `${JSON.stringify(key)}: ${yamlValue(v)}`).join(', ')}}`;
  }
  return JSON.stringify(value);
}
