import { isRecord } from '../../util/is-record.js';
import { readProtoJson, type BootstrapProblem } from './proto-json.js';
import { BOOTSTRAP_TYPE, bootstrapRuleProblems } from './rules.js';
import { SchemaTables } from './tables.js';
import { parseYaml } from './yaml.js';

export type { BootstrapProblem } from './proto-json.js';

export type BootstrapValidation =
  | { ok: true }
  | {
      ok: false;
      problems: BootstrapProblem[];
      /** One line for the operator: `<source>: <path>: <message>[; ...]`. */
      summary: string;
    };

export interface ValidateOptions {
  /** What the document is, for the summary: a file path, "the control plane's bootstrap", ... */
  source?: string;
}

/**
 * Checks a bootstrap (already parsed from YAML/JSON) the way Envoy reads it: a strict proto3-JSON
 * parse against Envoy's v3 API (unknown fields, also inside typed_config, bad enums, durations and
 * @type are errors; the first one is reported with its exact path), then the startup rules Envoy
 * enforces that the parse does not see. Synchronous and cheap (a few ms): `run` checks in its own
 * process, on the way to Envoy's exec.
 */
export function validateBootstrap(doc: unknown, options: ValidateOptions = {}): BootstrapValidation {
  const source = options.source ?? 'bootstrap';
  if (!isRecord(doc)) {
    const what = doc === null || doc === undefined ? 'an empty document' : Array.isArray(doc) ? 'a list' : `a ${typeof doc}`;
    return failed(source, [{ path: '(root)', message: `a bootstrap is a mapping of Envoy fields, not ${what}` }]);
  }
  const tables = SchemaTables.load();
  const read = readProtoJson(tables, BOOTSTRAP_TYPE, doc);
  if ('problem' in read) return failed(source, [read.problem]);
  const problems = bootstrapRuleProblems(tables, read.canonical);
  return problems.length === 0 ? { ok: true } : failed(source, problems);
}

/** Parses YAML (a syntax error is a problem at path "(yaml)" with its line and column), then validates. */
export function validateBootstrapYaml(text: string, source = 'bootstrap'): BootstrapValidation {
  const parsed = parseYaml(text);
  if ('error' in parsed) return failed(source, [{ path: '(yaml)', message: parsed.error }]);
  return validateBootstrap(parsed.value, { source });
}

function failed(source: string, problems: BootstrapProblem[]): BootstrapValidation {
  const summary = `${source}: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`;
  return { ok: false, problems, summary };
}
