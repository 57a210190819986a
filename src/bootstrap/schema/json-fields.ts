import type { DescField, DescMessage, Registry } from '@bufbuild/protobuf';

/** A field as Envoy's YAML/JSON names it: proto name (snake_case) or JSON name (camelCase). */
export function fieldForKey(desc: DescMessage, key: string): DescField | undefined {
  return desc.fields.find((f) => f.name === key || f.jsonName === key);
}

/**
 * Well-known types whose JSON form is not an object of their fields (Duration is "1s", Struct is
 * free-form, wrappers are bare values): there is nothing below them to point at.
 */
const OPAQUE_JSON_TYPES = new Set([
  'google.protobuf.Duration',
  'google.protobuf.Timestamp',
  'google.protobuf.FieldMask',
  'google.protobuf.Struct',
  'google.protobuf.Value',
  'google.protobuf.ListValue',
  'google.protobuf.DoubleValue',
  'google.protobuf.FloatValue',
  'google.protobuf.Int64Value',
  'google.protobuf.UInt64Value',
  'google.protobuf.Int32Value',
  'google.protobuf.UInt32Value',
  'google.protobuf.BoolValue',
  'google.protobuf.StringValue',
  'google.protobuf.BytesValue',
]);

export function hasOpaqueJson(desc: DescMessage): boolean {
  return OPAQUE_JSON_TYPES.has(desc.typeName);
}

export const ANY_TYPE = 'google.protobuf.Any';

/** The message an Any's "@type" URL names (type.googleapis.com/<full name>), if the schema has it. */
export function anyTarget(registry: Registry, typeUrl: string): DescMessage | undefined {
  return registry.getMessage(typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
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
