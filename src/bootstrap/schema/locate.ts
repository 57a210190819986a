import type { DescEnum, DescField, DescMessage, JsonValue } from '@bufbuild/protobuf';
import type { EnvoySchema } from './descriptor.js';
import { ANY_TYPE, anyTarget, fieldForKey, hasOpaqueJson, indexPath, keyPath } from './json-fields.js';
import { isRecord } from '../../util/is-record.js';

export interface BootstrapProblem {
  /**
   * Where: `static_resources.clusters[0].connect_timeout`. Schema errors use the document's own
   * spelling of each key (snake_case or camelCase); rule problems use the proto (snake_case) names.
   */
  path: string;
  message: string;
}

/**
 * fromJson says what is wrong ("key "x" is unknown") but not where. Narrow it down by re-parsing
 * ever smaller pieces with the same parser: the first key of an object that fails on its own is
 * the culprit; descend into it until the failing piece has no parts. If no single part fails
 * (two members of one oneof, say), the object itself is the place.
 */
export function locateProblem(schema: EnvoySchema, desc: DescMessage, json: unknown, path: string): BootstrapProblem {
  const failure = parseError(schema, desc, json);
  if (failure === undefined) return { path: path || '(root)', message: 'rejected by the schema' };
  if (!isRecord(json)) return { path: path || '(root)', message: failure };

  if (desc.typeName === ANY_TYPE) {
    const typeUrl = json['@type'];
    const typePath = keyPath(path, '@type');
    if (typeof typeUrl !== 'string') return { path: typePath, message: 'missing "@type" naming the type of this typed_config' };
    const target = anyTarget(schema.registry, typeUrl);
    if (!target) return { path: typePath, message: `unknown type "${typeUrl}": no Envoy v3 API message has this name` };
    if (hasOpaqueJson(target)) return { path, message: failure };
    const { '@type': _type, ...fields } = json;
    return locateProblem(schema, target, fields, path);
  }
  if (hasOpaqueJson(desc)) return { path, message: failure };

  for (const [key, value] of Object.entries(json)) {
    const field = fieldForKey(desc, key);
    const here = keyPath(path, key);
    if (!field) return { path: here, message: unknownFieldMessage(desc, key) };
    const alone = (v: unknown): string | undefined => parseError(schema, desc, { [key]: v });
    const keyFailure = alone(value);
    if (keyFailure !== undefined) return locateInField(schema, field, value, here, alone) ?? { path: here, message: describe(field, value, keyFailure) };
  }
  return { path: path || '(root)', message: failure };
}

function locateInField(
  schema: EnvoySchema,
  field: DescField,
  value: unknown,
  here: string,
  alone: (v: unknown) => string | undefined,
): BootstrapProblem | undefined {
  switch (field.fieldKind) {
    case 'message':
      return isRecord(value) ? locateProblem(schema, field.message, value, here) : undefined;
    case 'list': {
      if (!Array.isArray(value)) return undefined;
      for (const [i, element] of value.entries()) {
        const at = indexPath(here, i);
        if (field.listKind === 'message') {
          if (parseError(schema, field.message, element) !== undefined) return locateProblem(schema, field.message, element, at);
        } else {
          const failure = alone([element]);
          if (failure !== undefined) return { path: at, message: describe(field, element, failure) };
        }
      }
      return undefined;
    }
    case 'map': {
      if (!isRecord(value)) return undefined;
      for (const [mapKey, entry] of Object.entries(value)) {
        const at = keyPath(here, mapKey);
        if (field.mapKind === 'message' && parseError(schema, field.message, entry) !== undefined) {
          return locateProblem(schema, field.message, entry, at);
        }
        const failure = alone({ [mapKey]: entry });
        if (failure !== undefined) return { path: at, message: describe(field, entry, failure) };
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

function parseError(schema: EnvoySchema, desc: DescMessage, json: unknown): string | undefined {
  try {
    schema.protobuf.fromJson(desc, json as JsonValue, { registry: schema.registry });
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

function unknownFieldMessage(desc: DescMessage, key: string): string {
  const names = desc.fields.flatMap((f) => [f.name, f.jsonName]);
  return `unknown field "${key}" in ${desc.typeName}${didYouMean(key, names)}`;
}

/** A readable message for the common cases; the parser's own text otherwise. */
function describe(field: DescField, value: unknown, failure: string): string {
  const enumType = field.fieldKind === 'enum' || (field.fieldKind === 'list' && field.listKind === 'enum') ? field.enum : undefined;
  if (enumType && typeof value === 'string') return enumMessage(enumType, value);
  const messageType = field.fieldKind === 'message' || field.fieldKind === 'list' || field.fieldKind === 'map' ? field.message : undefined;
  if (messageType?.typeName === 'google.protobuf.Duration') {
    return `invalid duration ${JSON.stringify(value)}: Envoy durations are seconds with an "s" suffix, such as "5s", "0.25s" or "0s"`;
  }
  return failure.replace(/^cannot decode (?:field|message|enum) /, 'cannot read ');
}

function enumMessage(desc: DescEnum, value: string): string {
  const names = desc.values.map((v) => v.name);
  return `invalid value "${value}" for ${desc.typeName}${didYouMean(value, names)}; valid values: ${names.join(', ')}`;
}

function didYouMean(word: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 4)) + 1;
  for (const candidate of new Set(candidates)) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best === undefined ? '' : ` (did you mean "${best}"?)`;
}

/** Levenshtein distance with adjacent transpositions (GRCP → GRPC is one edit). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}
