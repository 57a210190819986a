/**
 * Build step, second half of build-schema.ts: extracts from the compiled descriptor set what the
 * proto3 JSON parse of src/bootstrap/schema/ needs (field names, types, enum values, oneofs), in
 * the format of src/bootstrap/schema/tables.ts. @bufbuild/protobuf reads the descriptors here, at
 * build time only.
 */
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { createFileRegistry, fromBinary, ScalarType, type DescEnum, type DescField, type DescMessage } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { encodeTables, type FieldRow, type PackageTables, type ScalarName } from '../src/bootstrap/schema/tables.js';

const require = createRequire(import.meta.url);
/** The sources, not their output: tsc rewrites dist/ on every build. */
const SCRIPT_SOURCE = fileURLToPath(new URL('../../scripts/schema-tables.ts', import.meta.url));
const TABLES_SOURCE = fileURLToPath(new URL('../../src/bootstrap/schema/tables.ts', import.meta.url));

/**
 * Newest change among the inputs. ctime too, because npm extracts packages with a fixed old
 * mtime: after an upgrade of @grpc/grpc-js-xds only the ctime says the protos are new.
 */
export function newestChange(paths: readonly string[]): number {
  return paths.reduce((newest, p) => {
    const stat = statSync(p);
    return Math.max(newest, stat.mtimeMs, stat.ctimeMs);
  }, 0);
}

const SCALAR_NAMES: Record<ScalarType, ScalarName> = {
  [ScalarType.DOUBLE]: 'double',
  [ScalarType.FLOAT]: 'float',
  [ScalarType.INT64]: 'int64',
  [ScalarType.UINT64]: 'uint64',
  [ScalarType.INT32]: 'int32',
  [ScalarType.FIXED64]: 'fixed64',
  [ScalarType.FIXED32]: 'fixed32',
  [ScalarType.BOOL]: 'bool',
  [ScalarType.STRING]: 'string',
  [ScalarType.BYTES]: 'bytes',
  [ScalarType.UINT32]: 'uint32',
  [ScalarType.SFIXED32]: 'sfixed32',
  [ScalarType.SFIXED64]: 'sfixed64',
  [ScalarType.SINT32]: 'sint32',
  [ScalarType.SINT64]: 'sint64',
};

function fieldRow(field: DescField): FieldRow {
  const row: FieldRow = { name: field.name };
  if (field.jsonName !== field.name) row.json = field.jsonName;
  if (field.fieldKind === 'list') row.list = true;
  if (field.fieldKind === 'map') row.map = SCALAR_NAMES[field.mapKey];
  if (field.scalar !== undefined) row.scalar = SCALAR_NAMES[field.scalar];
  if (field.enum) row.enum = field.enum.typeName;
  if (field.message) row.message = field.message.typeName;
  if (field.oneof) row.oneof = field.oneof.name;
  return row;
}

/** Every message and enum of the descriptor set, grouped by package. */
export function extractTables(schemaPath: string, tablesPath: string): { skipped: boolean; types: number } {
  // The library too (its entry point changes with every install of it): its reading of the
  // descriptors (JSON names, open enums) ends up in the tables.
  const inputs = [schemaPath, SCRIPT_SOURCE, TABLES_SOURCE, require.resolve('@bufbuild/protobuf')];
  if (existsSync(tablesPath) && statSync(tablesPath).mtimeMs > newestChange(inputs)) return { skipped: true, types: 0 };
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(schemaPath)));
  const packages = new Map<string, PackageTables>();
  const tablesOf = (desc: DescMessage | DescEnum): PackageTables => {
    const name = desc.file.proto.package;
    let tables = packages.get(name);
    if (!tables) packages.set(name, (tables = { messages: {}, enums: {} }));
    return tables;
  };
  let types = 0;
  for (const file of registry.files) {
    for (const desc of nestedTypes(file.messages, file.enums)) {
      types += 1;
      if (desc.kind === 'message') tablesOf(desc).messages[desc.typeName] = desc.fields.map(fieldRow);
      else tablesOf(desc).enums[desc.typeName] = { values: desc.values.map((v) => [v.name, v.number]), ...(desc.open ? {} : { closed: true as const }) };
    }
  }
  const partial = `${tablesPath}.${process.pid}.tmp`;
  try {
    writeFileSync(partial, encodeTables(packages));
    renameSync(partial, tablesPath);
  } finally {
    rmSync(partial, { force: true });
  }
  return { skipped: false, types };
}

function* nestedTypes(messages: readonly DescMessage[], enums: readonly DescEnum[]): Generator<DescMessage | DescEnum> {
  yield* enums;
  for (const message of messages) {
    yield message;
    yield* nestedTypes(message.nestedMessages, message.nestedEnums);
  }
}
