import { closeSync, openSync, readSync } from 'node:fs';
import { KumaDpError } from '../../errors.js';
import { packagePath } from '../../package-root.js';
import { isRecord } from '../../util/is-record.js';

/**
 * The parts of Envoy's v3 API that the proto3 JSON parse needs (field names, types, enum values,
 * oneofs), as scripts/build-schema.ts extracts them from the compiled descriptor set. Decoding and
 * linking descriptors costs ~50 ms even for the ~70 files of Bootstrap's closure; these tables cost
 * a JSON.parse of the few packages a bootstrap actually touches, in kuma-dp's own process.
 */
export const SCHEMA_TABLES_PATH = packagePath('dist', 'schema', 'envoy-v3.tables');

export type ScalarName =
  | 'double'
  | 'float'
  | 'int64'
  | 'uint64'
  | 'int32'
  | 'fixed64'
  | 'fixed32'
  | 'bool'
  | 'string'
  | 'bytes'
  | 'uint32'
  | 'sfixed32'
  | 'sfixed64'
  | 'sint32'
  | 'sint64';

/** One field: exactly one of scalar, enum (full name) or message (full name) says what it holds. */
export interface FieldRow {
  name: string;
  /** The JSON (lowerCamelCase) name, when it differs from `name`. */
  json?: string;
  scalar?: ScalarName;
  enum?: string;
  message?: string;
  list?: true;
  /** A map, keyed by this scalar; the value is given by scalar, enum or message. */
  map?: ScalarName;
  /** The oneof the field belongs to (not the synthetic one of a proto3 `optional`). */
  oneof?: string;
}

export interface EnumRow {
  values: [name: string, number: number][];
  /** A proto2 enum: only its declared numbers are values. */
  closed?: true;
}

export interface PackageTables {
  messages: Record<string, FieldRow[]>;
  enums: Record<string, EnumRow>;
}

/**
 * File layout: one line of JSON, `{"packages":{"<package>":[start,end],...}}`, then each package's
 * tables as JSON at those byte offsets (counted from the end of the first line), so that a
 * package is parsed only when a bootstrap uses one of its types.
 */
export function encodeTables(packages: ReadonlyMap<string, PackageTables>): Buffer {
  const chunks: Buffer[] = [];
  const index: Record<string, [number, number]> = {};
  let offset = 0;
  for (const [name, tables] of [...packages].sort(([a], [b]) => a.localeCompare(b))) {
    const chunk = Buffer.from(JSON.stringify(tables));
    index[name] = [offset, offset + chunk.length];
    offset += chunk.length;
    chunks.push(chunk);
  }
  return Buffer.concat([Buffer.from(`${JSON.stringify({ packages: index })}\n`), ...chunks]);
}

export interface MessageTable {
  typeName: string;
  fields: readonly FieldRow[];
  /** By proto name and by JSON name. */
  byKey: ReadonlyMap<string, FieldRow>;
}

export interface EnumTable {
  typeName: string;
  values: readonly [string, number][];
  closed: boolean;
}

/** Enough for the index line of every package Envoy has, with room to grow. */
const INDEX_READ_BYTES = 64 * 1024;

/**
 * The tables of one schema file, parsed package by package as types are asked for. Only the
 * index and those packages are read: the whole file would be ~0.5 MB of memory for a bootstrap
 * that needs ~70 KB of it, and kuma-dp keeps the pages it has used for as long as Envoy runs.
 */
export class SchemaTables {
  private readonly parsed = new Map<string, PackageTables>();
  private readonly messages = new Map<string, MessageTable | undefined>();

  private constructor(
    private readonly path: string,
    private readonly index: ReadonlyMap<string, [number, number]>,
    /** Where the packages start: the byte after the index line. */
    private readonly bodyStart: number,
  ) {}

  static load(path = SCHEMA_TABLES_PATH): SchemaTables {
    let head: Buffer;
    try {
      head = readRange(path, 0, INDEX_READ_BYTES);
    } catch (err) {
      throw brokenTables(path, `it cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    const newline = head.indexOf(10);
    let header: { packages?: Record<string, [number, number]> };
    try {
      header = JSON.parse(head.toString('utf8', 0, newline)) as typeof header;
    } catch {
      header = {};
    }
    if (newline < 0 || !isRecord(header.packages)) throw brokenTables(path, 'its index is damaged');
    return new SchemaTables(path, new Map(Object.entries(header.packages)), newline + 1);
  }

  message(typeName: string): MessageTable | undefined {
    if (this.messages.has(typeName)) return this.messages.get(typeName);
    const declared = this.packageOf(typeName)?.messages;
    const fields = declared && Object.hasOwn(declared, typeName) ? declared[typeName] : undefined;
    const table = fields && { typeName, fields, byKey: new Map(fields.flatMap((f) => [[f.name, f] as const, [f.json ?? f.name, f] as const])) };
    this.messages.set(typeName, table);
    return table;
  }

  enum(typeName: string): EnumTable | undefined {
    const declared = this.packageOf(typeName)?.enums;
    const row = declared && Object.hasOwn(declared, typeName) ? declared[typeName] : undefined;
    return row && { typeName, values: row.values, closed: row.closed === true };
  }

  /** The package declaring a full type name: the longest dotted prefix that is a package. */
  private packageOf(typeName: string): PackageTables | undefined {
    for (let end = typeName.lastIndexOf('.'); end > 0; end = typeName.lastIndexOf('.', end - 1)) {
      const name = typeName.slice(0, end);
      const cached = this.parsed.get(name);
      if (cached) return cached;
      const range = this.index.get(name);
      if (!range) continue;
      let tables: PackageTables;
      try {
        tables = JSON.parse(readRange(this.path, this.bodyStart + range[0], range[1] - range[0]).toString('utf8')) as PackageTables;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw brokenTables(this.path, code ? `it cannot be read (${code})` : `the tables of ${name} are damaged`);
      }
      this.parsed.set(name, tables);
      return tables;
    }
    return undefined;
  }
}

/** Up to `length` bytes from `position` (fewer at the end of the file). */
function readRange(path: string, position: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const bytes = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const read = readSync(fd, bytes, filled, length - filled, position + filled);
      if (read === 0) break;
      filled += read;
    }
    return bytes.subarray(0, filled);
  } finally {
    closeSync(fd);
  }
}

function brokenTables(path: string, reason: string): KumaDpError {
  return new KumaDpError(`the Envoy schema ${path} is unusable: ${reason}`, {
    hint: 'run `npm run build` in the kuma-dp checkout to regenerate it',
  });
}
