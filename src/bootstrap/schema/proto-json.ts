import { isRecord } from '../../util/is-record.js';
import { ANY_TYPE, hasOpaqueJson, indexPath, keyPath, typeNameOfUrl, WRAPPER_SCALARS } from './json-fields.js';
import { didYouMean } from './suggest.js';
import type { EnumTable, FieldRow, MessageTable, ScalarName, SchemaTables } from './tables.js';

export interface BootstrapProblem {
  /**
   * Where: `static_resources.clusters[0].connect_timeout`. Schema errors use the document's own
   * spelling of each key (snake_case or camelCase); rule problems use the proto (snake_case) names.
   */
  path: string;
  message: string;
}

/** The protobuf parsers' own limit; a deeper document is refused, not walked until the stack runs out. */
const RECURSION_LIMIT = 100;
const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const UINT32_MAX = 0xffffffff;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
/** ±10,000 years, the range of google.protobuf.Duration. */
const DURATION_SECONDS_MAX = 315_576_000_000;
const TIMESTAMP_MS_MIN = Date.parse('0001-01-01T00:00:00Z');
const TIMESTAMP_MS_MAX = Date.parse('9999-12-31T23:59:59Z');
/** What Envoy's (C++ protobuf) JSON parser accepts: whole seconds, up to nine decimals, an "s". */
const DURATION = /^(-?[0-9]+)(?:\.[0-9]{1,9})?s$/;
const TIMESTAMP = /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$/;
/** Standard or URL-safe alphabet, padding, and the white space decoders skip. */
const BASE64 = /^[A-Za-z0-9+/\-_=\n\r\t ]*$/;

class SchemaProblem extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Reads a document the way the proto3 JSON mapping defines (Envoy reads its YAML bootstrap so):
 * an unknown field, also inside a typed_config, a value of the wrong type, an unknown enum name,
 * a malformed duration, an unknown "@type" or two members of one oneof is a problem, reported with
 * the path of its place in the document. Both the proto and the JSON name of a field are accepted,
 * null means "not set", and 32- and 64-bit integers may be numbers or strings.
 *
 * On success, the canonical form the startup rules (rules.ts) read: proto field names only, unset
 * fields left out, enums by name, 32-bit integers and floats as numbers.
 */
export function readProtoJson(tables: SchemaTables, typeName: string, json: unknown): { canonical: Record<string, unknown> } | { problem: BootstrapProblem } {
  const table = tables.message(typeName);
  if (!table) throw new Error(`the Envoy schema has no ${typeName}`);
  try {
    return { canonical: new Reader(tables).message(table, json, '') as Record<string, unknown> };
  } catch (err) {
    if (err instanceof SchemaProblem) return { problem: { path: err.path || '(root)', message: err.message } };
    throw err;
  }
}

class Reader {
  private depth = 0;
  /** The mappings and lists on the path being read: a YAML alias can make one contain itself. */
  private readonly open = new Set<object>();

  constructor(private readonly tables: SchemaTables) {}

  message(table: MessageTable, json: unknown, path: string): unknown {
    if (++this.depth > RECURSION_LIMIT) throw new SchemaProblem(path, `nested more than ${RECURSION_LIMIT} levels deep`);
    // The well-known types track their own mappings and lists (struct, listValue), or read a copy (Any).
    const value =
      hasOpaqueJson(table.typeName) || table.typeName === ANY_TYPE ? this.wellKnown(table, json, path) : this.within(json, path, () => this.fields(table, json, path));
    this.depth--;
    return value;
  }

  private within<T>(json: unknown, path: string, read: () => T): T {
    if (typeof json !== 'object' || json === null) return read();
    if (this.open.has(json)) throw new SchemaProblem(path, 'contains itself (a YAML alias to a mapping or list around it)');
    this.open.add(json);
    try {
      return read();
    } finally {
      this.open.delete(json);
    }
  }

  private fields(table: MessageTable, json: unknown, path: string): Record<string, unknown> {
    if (!isRecord(json)) throw new SchemaProblem(path, `expected a mapping (${table.typeName}), got ${describe(json)}`);
    const canonical: Record<string, unknown> = {};
    const seen = new Set<FieldRow>();
    const oneofs = new Map<string, FieldRow>();
    for (const [key, value] of Object.entries(json)) {
      const field = table.byKey.get(key);
      const here = keyPath(path, key);
      if (!field) throw new SchemaProblem(here, `unknown field "${key}" in ${table.typeName}${didYouMean(key, table.fields.flatMap((f) => [f.name, f.json ?? f.name]))}`);
      if (seen.has(field)) throw new SchemaProblem(path, `field ${field.name} is set twice, as "${field.name}" and as "${field.json}"`);
      seen.add(field);
      // A null scalar of a oneof sets nothing, so it does not count as the oneof's member.
      if (value === null && field.oneof !== undefined && field.scalar !== undefined) continue;
      if (field.oneof !== undefined) {
        const other = oneofs.get(field.oneof);
        if (other) throw new SchemaProblem(path, `${other.name} and ${field.name} are both set, but they are alternatives (oneof ${field.oneof}); keep one`);
        oneofs.set(field.oneof, field);
      }
      const read = field.list ? this.list(field, value, here) : field.map ? this.map(field, value, here) : this.singular(field, value, here);
      if (read !== undefined) canonical[field.name] = read;
    }
    return canonical;
  }

  private list(field: FieldRow, json: unknown, path: string): unknown[] | undefined {
    if (json === null) return undefined;
    if (!Array.isArray(json)) throw new SchemaProblem(path, `expected a list, got ${describe(json)}`);
    return this.within(json, path, () =>
      json.map((item, i) => {
        const at = indexPath(path, i);
        if (item === null && !acceptsNull(field)) throw new SchemaProblem(at, 'a list item must not be null');
        return this.value(field, item, at);
      }),
    );
  }

  private map(field: FieldRow, json: unknown, path: string): Record<string, unknown> | undefined {
    if (json === null) return undefined;
    if (!isRecord(json)) throw new SchemaProblem(path, `expected a mapping, got ${describe(json)}`);
    return this.within(json, path, () => this.mapEntries(field, json, path));
  }

  private mapEntries(field: FieldRow, json: Record<string, unknown>, path: string): Record<string, unknown> {
    const canonical: Record<string, unknown> = {};
    const keys = new Set<string>();
    for (const [key, value] of Object.entries(json)) {
      const at = keyPath(path, key);
      const mapKey = canonicalMapKey(field.map!, key);
      if (keys.has(mapKey)) throw new SchemaProblem(at, `the key "${key}" is given twice`);
      keys.add(mapKey);
      if (value === null && !acceptsNull(field)) throw new SchemaProblem(at, 'a map value must not be null');
      const read = this.value(field, value, at);
      if (!validMapKey(field.map!, mapKey)) throw new SchemaProblem(at, `"${key}" is not a valid key here: expected ${scalarDescription(field.map!)}`);
      Object.defineProperty(canonical, key, { value: read, enumerable: true, writable: true, configurable: true });
    }
    return canonical;
  }

  /** A field that is neither a list nor a map: null leaves it unset (except where null is a value). */
  private singular(field: FieldRow, json: unknown, path: string): unknown {
    if (json === null && !acceptsNull(field)) return undefined;
    return this.value(field, json, path);
  }

  private value(field: FieldRow, json: unknown, path: string): unknown {
    if (field.scalar !== undefined) return scalarValue(field.scalar, json, path);
    if (field.enum !== undefined) return enumValue(this.enumTable(field.enum), json, path);
    return this.message(this.messageTable(field.message!), json, path);
  }

  private wellKnown(table: MessageTable, json: unknown, path: string): unknown {
    switch (table.typeName) {
      case ANY_TYPE:
        return this.any(json, path);
      case 'google.protobuf.Duration':
        return durationValue(json, path);
      case 'google.protobuf.Timestamp':
        return timestampValue(json, path);
      case 'google.protobuf.FieldMask':
        return fieldMaskValue(json, path);
      case 'google.protobuf.Struct':
        return this.struct(json, path);
      case 'google.protobuf.Value':
        return this.protobufValue(json, path);
      case 'google.protobuf.ListValue':
        return this.listValue(json, path);
      default:
        // The wrappers (UInt32Value, BoolValue, ...): the bare value, null for its zero.
        return json === null ? null : scalarValue(WRAPPER_SCALARS.get(table.typeName)!, json, path);
    }
  }

  private any(json: unknown, path: string): Record<string, unknown> {
    if (!isRecord(json)) throw new SchemaProblem(path, `expected a mapping with "@type" (google.protobuf.Any), got ${describe(json)}`);
    if (Object.keys(json).length === 0) return {};
    const typeUrl = json['@type'];
    const typePath = keyPath(path, '@type');
    if (typeof typeUrl !== 'string' || typeUrl === '') throw new SchemaProblem(typePath, 'missing "@type" naming the type of this typed_config');
    const target = this.tables.message(typeNameOfUrl(typeUrl));
    if (!target) throw new SchemaProblem(typePath, `unknown type "${typeUrl}": no Envoy v3 API message has this name`);
    if ((hasOpaqueJson(target.typeName) || target.typeName === ANY_TYPE) && Object.hasOwn(json, 'value')) {
      return { '@type': typeUrl, value: this.message(target, json['value'], keyPath(path, 'value')) };
    }
    const { '@type': _type, ...fields } = json;
    const read = this.message(target, fields, path);
    return { '@type': typeUrl, ...(isRecord(read) ? read : {}) };
  }

  private struct(json: unknown, path: string): Record<string, unknown> {
    if (!isRecord(json)) throw new SchemaProblem(path, `expected a mapping (google.protobuf.Struct), got ${describe(json)}`);
    return this.within(json, path, () => {
      for (const [key, value] of Object.entries(json)) this.protobufValue(value, keyPath(path, key));
      return json;
    });
  }

  private listValue(json: unknown, path: string): unknown[] {
    if (!Array.isArray(json)) throw new SchemaProblem(path, `expected a list, got ${describe(json)}`);
    return this.within(json, path, () => json.map((item, i) => this.protobufValue(item, indexPath(path, i))));
  }

  /** google.protobuf.Value: any JSON value. */
  private protobufValue(json: unknown, path: string): unknown {
    if (++this.depth > RECURSION_LIMIT) throw new SchemaProblem(path, `nested more than ${RECURSION_LIMIT} levels deep`);
    if (Array.isArray(json)) this.listValue(json, path);
    else if (isRecord(json)) this.struct(json, path);
    else if (json !== null && !['number', 'string', 'boolean'].includes(typeof json)) throw new SchemaProblem(path, `expected a JSON value, got ${describe(json)}`);
    this.depth--;
    return json;
  }

  private messageTable(typeName: string): MessageTable {
    const table = this.tables.message(typeName);
    if (!table) throw new Error(`the Envoy schema refers to ${typeName} but does not define it`);
    return table;
  }

  private enumTable(typeName: string): EnumTable {
    const table = this.tables.enum(typeName);
    if (!table) throw new Error(`the Envoy schema refers to ${typeName} but does not define it`);
    return table;
  }
}

/** Where null is a value of its own rather than "not set": google.protobuf.Value and NullValue. */
function acceptsNull(field: FieldRow): boolean {
  return field.message === 'google.protobuf.Value' || field.enum === 'google.protobuf.NullValue';
}

function enumValue(table: EnumTable, json: unknown, path: string): string | number {
  if (json === null) return table.values[0]![0];
  if (typeof json === 'string') {
    const known = table.values.find(([name]) => name === json);
    if (known) return known[0];
    const names = table.values.map(([name]) => name);
    throw new SchemaProblem(path, `invalid value "${json}" for ${table.typeName}${didYouMean(json, names)}; valid values: ${names.join(', ')}`);
  }
  if (typeof json === 'number' && Number.isInteger(json)) {
    const named = table.values.find(([, number]) => number === json);
    if (named) return named[0];
    // proto3 enums are open: an int32 Envoy does not know is kept, as newer Envoys may.
    if (!table.closed && json >= INT32_MIN && json <= INT32_MAX) return json;
  }
  throw new SchemaProblem(path, `invalid value ${describe(json)} for ${table.typeName}; valid values: ${table.values.map(([name]) => name).join(', ')}`);
}

function scalarValue(type: ScalarName, json: unknown, path: string): unknown {
  const bad = (detail?: string): SchemaProblem => new SchemaProblem(path, `expected ${scalarDescription(type)}, got ${describe(json)}${detail ? ` (${detail})` : ''}`);
  switch (type) {
    case 'double':
    case 'float': {
      if (json === 'NaN' || json === 'Infinity' || json === '-Infinity') return json;
      const number = typeof json === 'string' && json !== '' && json.trim() === json ? Number(json) : json;
      if (typeof number !== 'number' || !Number.isFinite(number)) throw bad();
      if (type === 'float' && !Number.isFinite(Math.fround(number))) throw bad('out of range');
      return number;
    }
    case 'int32':
    case 'sint32':
    case 'sfixed32':
    case 'uint32':
    case 'fixed32': {
      const number = typeof json === 'string' && json !== '' && json.trim() === json ? Number(json) : json;
      if (typeof number !== 'number' || !Number.isInteger(number)) throw bad();
      const unsigned = type === 'uint32' || type === 'fixed32';
      if (number > (unsigned ? UINT32_MAX : INT32_MAX) || number < (unsigned ? 0 : INT32_MIN)) throw bad('out of range');
      return number;
    }
    case 'int64':
    case 'sint64':
    case 'sfixed64':
    case 'uint64':
    case 'fixed64': {
      let big: bigint;
      try {
        if (typeof json !== 'number' && (typeof json !== 'string' || json === '')) throw bad();
        big = BigInt(json);
      } catch {
        throw bad();
      }
      const unsigned = type === 'uint64' || type === 'fixed64';
      if (big > (unsigned ? UINT64_MAX : INT64_MAX) || big < (unsigned ? 0n : INT64_MIN)) throw bad('out of range');
      return String(big);
    }
    case 'bool':
      if (typeof json !== 'boolean') throw bad();
      return json;
    case 'string':
      if (typeof json !== 'string') throw bad();
      if (!isWellFormed(json)) throw bad('not valid UTF-8');
      return json;
    case 'bytes':
      if (typeof json !== 'string' || !BASE64.test(json) || danglingBase64(json)) throw bad();
      return json;
  }
}

function durationValue(json: unknown, path: string): string {
  const match = typeof json === 'string' ? DURATION.exec(json) : null;
  if (!match || Math.abs(Number(match[1])) > DURATION_SECONDS_MAX) {
    throw new SchemaProblem(path, `invalid duration ${describe(json)}: Envoy durations are seconds with an "s" suffix, such as "5s", "0.25s" or "0s"`);
  }
  return json as string;
}

function timestampValue(json: unknown, path: string): string {
  const match = typeof json === 'string' ? TIMESTAMP.exec(json) : null;
  const ms = match ? Date.parse(`${match[1]}-${match[2]}-${match[3]}T${match[4]}:${match[5]}:${match[6]}${match[7]}`) : NaN;
  if (!(ms >= TIMESTAMP_MS_MIN && ms <= TIMESTAMP_MS_MAX)) {
    throw new SchemaProblem(path, `invalid timestamp ${describe(json)}: expected RFC 3339 between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, such as "2024-01-31T12:00:00Z"`);
  }
  return json as string;
}

function fieldMaskValue(json: unknown, path: string): string {
  if (typeof json !== 'string' || json.split(',').some((p) => p.includes('_'))) {
    throw new SchemaProblem(path, `invalid field mask ${describe(json)}: expected comma-separated lowerCamelCase paths`);
  }
  return json;
}

/** A last group of a single character: six bits, not a byte. (Padding starts a new group.) */
function danglingBase64(text: string): boolean {
  const groups = text.replace(/[\n\r\t ]/g, '').split('=');
  return groups[groups.length - 1]!.length % 4 === 1;
}

/** Map keys are strings in JSON; integer keys are compared by value ("01", "1" and "0x1" are one key). */
function canonicalMapKey(type: ScalarName, key: string): string {
  switch (type) {
    case 'string':
    case 'bool':
      return key;
    case 'int32':
    case 'sint32':
    case 'sfixed32':
    case 'uint32':
    case 'fixed32':
      // Read as the value's own parser reads it; what does not parse is refused by validMapKey.
      return key !== '' && key.trim() === key && !Number.isNaN(Number(key)) ? String(Number(key)) : key;
    default:
      return /^-?0+$/.test(key) ? '0' : key.replace(/^(-?)0+(?=\d)/, '$1');
  }
}

function validMapKey(type: ScalarName, key: string): boolean {
  if (type === 'string') return isWellFormed(key);
  if (type === 'bool') return key === 'true' || key === 'false';
  try {
    scalarValue(type, key, '');
    return true;
  } catch {
    return false;
  }
}

/** No lone surrogate, so the string has a UTF-8 form (String.prototype.isWellFormed, ES2024: in Node 20, not in our lib types). */
function isWellFormed(text: string): boolean {
  return (text as string & { isWellFormed(): boolean }).isWellFormed();
}

function scalarDescription(type: ScalarName): string {
  switch (type) {
    case 'bool':
      return 'true or false';
    case 'string':
      return 'a string';
    case 'bytes':
      return 'base64 text';
    case 'double':
    case 'float':
      return `a number (${type})`;
    default:
      return `an integer (${type})`;
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return value.length > 40 ? 'a long string' : JSON.stringify(value);
  return String(value);
}
