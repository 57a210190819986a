import type { ScalarName } from './tables.js';

export const ANY_TYPE = 'google.protobuf.Any';

/** The full type name an Any's "@type" URL names: `type.googleapis.com/<name>` → `<name>`. */
export function typeNameOfUrl(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

/** The wrapper types, whose JSON form is the bare value of the scalar they wrap. */
export const WRAPPER_SCALARS: ReadonlyMap<string, ScalarName> = new Map([
  ['google.protobuf.DoubleValue', 'double'],
  ['google.protobuf.FloatValue', 'float'],
  ['google.protobuf.Int64Value', 'int64'],
  ['google.protobuf.UInt64Value', 'uint64'],
  ['google.protobuf.Int32Value', 'int32'],
  ['google.protobuf.UInt32Value', 'uint32'],
  ['google.protobuf.BoolValue', 'bool'],
  ['google.protobuf.StringValue', 'string'],
  ['google.protobuf.BytesValue', 'bytes'],
]);

/**
 * Well-known types whose JSON form is not an object of their fields (Duration is "1s", Struct is
 * free-form, wrappers are bare values): read by rules of their own, with nothing below them to
 * point at.
 */
const OPAQUE_JSON_TYPES = new Set([
  'google.protobuf.Duration',
  'google.protobuf.Timestamp',
  'google.protobuf.FieldMask',
  'google.protobuf.Struct',
  'google.protobuf.Value',
  'google.protobuf.ListValue',
  ...WRAPPER_SCALARS.keys(),
]);

export function hasOpaqueJson(typeName: string): boolean {
  return OPAQUE_JSON_TYPES.has(typeName);
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `a.b`, or `a["envoy.extensions.x"]` for map keys and "@type" that are not identifiers. */
export function keyPath(parent: string, key: string): string {
  if (IDENTIFIER.test(key)) return parent === '' ? key : `${parent}.${key}`;
  return `${parent}[${JSON.stringify(key)}]`;
}

export function indexPath(parent: string, index: number): string {
  return `${parent}[${index}]`;
}
