import { readFileSync, statSync } from 'node:fs';
import Mustache from 'mustache';
import { readFileAsync } from '../platform/fs-async.js';
import { fsErrorReason } from '../platform/fs-errors.js';
import { goJsonStringify } from '../bootstrap/remote/go-json.js';
import { parseYaml } from '../bootstrap/schema/yaml.js';
import { ConfigError } from '../errors.js';
import { isRecord } from '../util/is-record.js';

/** A Dataplane template after Mustache rendering and the local checks kuma-dp makes. */
export interface RenderedDataplane {
  /** The text after Mustache, as kuma-dp logs it (`rendered resource`). */
  rendered: string;
  /** The parsed YAML/JSON document. */
  resource: Record<string, unknown>;
  type: string;
  mesh: string;
  name: string;
}

export interface TemplateSourceOptions {
  /** `--dataplane-file`; `-` reads stdin. Wins over `inline`. */
  file?: string | undefined;
  /** `--dataplane`. */
  inline?: string | undefined;
  /** Called only for `-`: creating process.stdin alone costs ~3.5 ms of every start. */
  stdin: () => NodeJS.ReadableStream;
}

const VAR_FLAG = '-v, --dataplane-var';

/** hoisie/mustache escapes through Go's template.HTMLEscape: these five characters, and NUL. */
const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&#34;',
  "'": '&#39;',
  '\0': '\uFFFD',
};

function htmlEscape(value: unknown): string {
  return String(value).replace(/[&<>"'\0]/g, (c) => HTML_ESCAPES[c]!);
}

// RFC 1123 subdomain for names, and the older, looser charset kuma still accepts for meshes.
const NAME_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const NAME_PATTERN_MESSAGE =
  "invalid characters. A lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const MESH_PATTERN = /^[0-9a-z-_.]*$/;
const MESH_PATTERN_MESSAGE = "invalid characters. Valid characters are numbers, lowercase latin letters and '-', '_', '.' symbols.";
const MAX_IDENTIFIER_LENGTH = 253;

/** Go's zero time.Time, which is what kuma-dp's REST form carries for a resource not yet stored. */
const ZERO_TIME = '0001-01-01T00:00:00Z';
const META_KEYS = new Set(['type', 'mesh', 'name', 'creationTime', 'modificationTime', 'labels', 'kri']);
/** Dataplane spec fields in protobuf field order, which is how protojson (and so kuma-dp) emits them. */
const SPEC_FIELD_ORDER = ['networking', 'metrics', 'probes'];


/**
 * Parses repeated `-v` values with pflag's StringToString rules: a value with a single `=` is one
 * pair (commas kept, surrounding quotes trimmed); a value with several `=` is a CSV record of
 * pairs. Later flags override earlier keys.
 */
export function parseDataplaneVars(list: readonly string[]): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const value of list) {
    const equals = value.split('=').length - 1;
    if (equals === 0) throw varError(value, `${value} must be formatted as key=value`);
    let pairs: string[];
    if (equals === 1) {
      pairs = [value.replace(/^"+|"+$/g, '')];
    } else {
      try {
        pairs = readCsvRecord(value);
      } catch (err) {
        throw varError(value, (err as Error).message);
      }
    }
    for (const pair of pairs) {
      const at = pair.indexOf('=');
      if (at < 0) throw varError(value, `${pair} must be formatted as key=value`);
      vars[pair.slice(0, at)] = pair.slice(at + 1);
    }
  }
  return vars;
}

function varError(value: string, reason: string): ConfigError {
  return new ConfigError(`invalid argument "${value}" for "${VAR_FLAG}" flag: ${reason}`, {
    hint: 'pass key=value pairs, e.g. -v name=web-1 -v address=10.0.0.5',
  });
}

/** One record of Go's encoding/csv (comma separator, RFC 4180 quoting, no lazy quotes). */
function readCsvRecord(text: string): string[] {
  const line = text.split(/\r?\n/, 1)[0]!;
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let field = '';
      i++;
      for (;;) {
        if (i >= line.length) throw new Error('extraneous or missing " in quoted-field');
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += line[i++];
      }
      if (i < line.length && line[i] !== ',') throw new Error('extraneous or missing " in quoted-field');
      fields.push(field);
    } else {
      const end = line.indexOf(',', i);
      const field = line.slice(i, end < 0 ? line.length : end);
      if (field.includes('"')) throw new Error('bare " in non-quoted-field');
      fields.push(field);
      i = end < 0 ? line.length : end;
    }
    if (i >= line.length) return fields;
    i++; // the comma
  }
}

/**
 * `a.b=x` becomes `{a: {b: x}}` so that `{{a.b}}` resolves. kuma-dp merges shallowly, so two keys
 * under one prefix (`a.b`, `a.c`) clash there and Go's map order picks the survivor at random;
 * here they merge deeply, and where a plain value and a prefix collide (`a=x` and `a.b=y`) the key
 * given later wins. Contexts have no prototype, so `{{constructor}}` and the like stay empty, and
 * a prefix used as a value (`{{a}}`) renders empty too.
 */
function nestVars(vars: Record<string, string>): Record<string, unknown> {
  const context = (): Record<string, unknown> =>
    Object.create(null, { toString: { value: () => '', enumerable: false, writable: true } }) as Record<string, unknown>;
  const root = context();
  for (const [key, value] of Object.entries(vars)) {
    const parts = key.split('.');
    let node = root;
    for (const part of parts.slice(0, -1)) {
      if (!isRecord(node[part])) node[part] = context();
      node = node[part] as Record<string, unknown>;
    }
    node[parts[parts.length - 1]!] = value;
  }
  return root;
}

/** How the template is named in errors: the flag or stream it came from. */
export function describeTemplateSource(options: Pick<TemplateSourceOptions, 'file' | 'inline'>): string {
  if (options.file === '-') return '--dataplane-file - (stdin)';
  if (options.file) return `--dataplane-file ${options.file}`;
  return '--dataplane';
}

/**
 * The template text: `--dataplane-file` (a path, or `-` for stdin) wins over `--dataplane`.
 * Undefined when neither gives any content, which means "no template".
 */
export async function readTemplateSource(options: TemplateSourceOptions): Promise<string | undefined> {
  let text: string | undefined;
  if (options.file === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of options.stdin()) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    text = Buffer.concat(chunks).toString('utf8');
  } else if (options.file) {
    try {
      // A regular file is read at once, with no thread-pool round trip on the way to Envoy's
      // start; a pipe (`--dataplane-file <(…)`) may wait for its writer, and signals must still be
      // handled meanwhile.
      text = statSync(options.file).isFile() ? readFileSync(options.file, 'utf8') : await readFileAsync(options.file, 'utf8');
    } catch (err) {
      throw new ConfigError(`could not read the Dataplane template ${options.file}: ${fsErrorReason(err)}`, {
        hint: 'fix the path given to --dataplane-file (KUMA_DATAPLANE_RUNTIME_RESOURCE_PATH)',
      });
    }
  } else {
    text = options.inline;
  }
  return text === undefined || text.trim() === '' ? undefined : text;
}

function parseDocument(text: string, source: string): unknown {
  if (text.trimStart().startsWith('{')) {
    try {
      return JSON.parse(text);
    } catch {
      // Not strict JSON; YAML is a superset for everything else a template may contain.
    }
  }
  const parsed = parseYaml(text);
  if ('value' in parsed) return parsed.value;
  throw new ConfigError(`the Dataplane template from ${source} ${parsed.refused ? 'is refused' : 'is not valid YAML or JSON'}: ${parsed.error}`, {
    hint: 'check the template after variable substitution (it is logged as "rendered resource" at info)',
  });
}

function checkIdentifier(field: string, value: unknown, pattern: RegExp, message: string, problems: string[]): string {
  if (value === undefined || value === null || value === '') {
    problems.push(`${field}: cannot be empty`);
    return '';
  }
  if (typeof value !== 'string') {
    problems.push(`${field}: must be a string`);
    return String(value);
  }
  if (value.length > MAX_IDENTIFIER_LENGTH) problems.push(`${field}: value length must less or equal ${MAX_IDENTIFIER_LENGTH}`);
  else if (!pattern.test(value)) problems.push(`${field}: ${message}`);
  return value;
}

/**
 * Renders a Dataplane template with Mustache (`{{x}}` HTML-escaped like hoisie/mustache, `{{{x}}}`
 * raw, missing variables empty), parses it as YAML or JSON and makes kuma-dp's local checks. The
 * full spec validation is left to the control plane, which answers 422 with the reason.
 */
export function renderDataplane(
  template: string,
  vars: Record<string, string>,
  source = 'the Dataplane template',
): RenderedDataplane {
  let rendered: string;
  try {
    rendered = Mustache.render(template, nestVars(vars), undefined, { escape: htmlEscape });
  } catch (err) {
    throw new ConfigError(`could not render the Dataplane template from ${source}: ${(err as Error).message}`, {
      hint: 'check the {{ }} tags of the template',
    });
  }
  const document = parseDocument(rendered, source);
  if (!isRecord(document)) {
    throw new ConfigError(`the Dataplane template from ${source} is not a YAML or JSON object`, {
      hint: 'the template must be a mapping with type, mesh, name and networking',
    });
  }

  const problems: string[] = [];
  const type = typeof document.type === 'string' ? document.type : '';
  if (type !== 'Dataplane') problems.push(`invalid proxy resource type "${type}", expected Dataplane`);
  const name = checkIdentifier('name', document.name, NAME_PATTERN, NAME_PATTERN_MESSAGE, problems);
  const mesh = checkIdentifier('mesh', document.mesh, MESH_PATTERN, MESH_PATTERN_MESSAGE, problems);
  const networking = document.networking;
  const address = isRecord(networking) ? networking.address : undefined;
  if (typeof address !== 'string' || address === '') problems.push('networking.address: cannot be empty');
  if (problems.length > 0) {
    throw new ConfigError(`invalid Dataplane template from ${source}: ${problems.join('; ')}`, {
      hint: 'fix the template or its --dataplane-var values',
    });
  }
  return { rendered, resource: document, type, mesh, name };
}

function stringMap(value: unknown): Record<string, string> {
  if (!isRecord(value)) return {};
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
}

/**
 * The `dataplaneResource` string of the bootstrap request: kuma's REST form (meta fields, Go's
 * zero times, labels sorted like a Go map, the `kri` identifier, then the spec fields inlined).
 * Spec fields keep the template's own nesting and order below the top level; the CP re-parses them
 * with protojson, so only the top-level order is reproduced.
 */
export function toRestResourceJson(resource: Record<string, unknown>): string {
  const mesh = typeof resource.mesh === 'string' ? resource.mesh : '';
  const name = typeof resource.name === 'string' ? resource.name : '';
  const labels = stringMap(resource.labels);
  const sortedLabels = Object.fromEntries(Object.keys(labels).sort().map((k) => [k, labels[k]!]));
  const kri = [
    'kri',
    'dp',
    mesh,
    labels['kuma.io/zone'] ?? '',
    labels['k8s.kuma.io/namespace'] ?? '',
    labels['kuma.io/display-name'] ?? name,
    '',
  ].join('_');

  const rest: Record<string, unknown> = { type: resource.type };
  if (mesh !== '') rest.mesh = mesh;
  rest.name = name;
  rest.creationTime = ZERO_TIME;
  rest.modificationTime = ZERO_TIME;
  if (Object.keys(sortedLabels).length > 0) rest.labels = sortedLabels;
  rest.kri = kri;
  const specKeys = Object.keys(resource).filter((k) => !META_KEYS.has(k));
  const ordered = [
    ...SPEC_FIELD_ORDER.filter((k) => specKeys.includes(k)),
    ...specKeys.filter((k) => !SPEC_FIELD_ORDER.includes(k)),
  ];
  for (const key of ordered) {
    if (resource[key] !== null && resource[key] !== undefined) rest[key] = resource[key];
  }
  return goJsonStringify(rest);
}
