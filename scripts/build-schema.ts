/**
 * Build step: compile Envoy's v3 API protos (shipped in @grpc/grpc-js-xds) into one
 * FileDescriptorSet, dist/schema/envoy-v3.binpb, and extract from it the tables the proto3 JSON
 * parse needs, dist/schema/envoy-v3.tables, which src/bootstrap/schema/ loads to check bootstraps
 * the way Envoy parses them. Runs after `tsc` in `npm run build`, so it must work on a clean
 * `npm ci` with nothing but our devDependencies, and cost nothing when nothing changed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFileRegistry, fromBinary, ScalarType, type DescEnum, type DescField, type DescMessage } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { encodeTables, type FieldRow, type PackageTables, type ScalarName } from '../src/bootstrap/schema/tables.js';

const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCHEMA_PATH = join(PACKAGE_ROOT, 'dist', 'schema', 'envoy-v3.binpb');
const TABLES_PATH = join(PACKAGE_ROOT, 'dist', 'schema', 'envoy-v3.tables');
/** The sources, not their output: tsc rewrites dist/ on every build. */
const SCRIPT_SOURCE = join(PACKAGE_ROOT, 'scripts', 'build-schema.ts');
const TABLES_SOURCE = join(PACKAGE_ROOT, 'src', 'bootstrap', 'schema', 'tables.ts');

/** Import roots inside @grpc/grpc-js-xds/deps, used as they are. */
const LINKED_ROOTS = ['envoy-api', 'googleapis', 'xds'] as const;
/**
 * protoc-gen-validate's root gets only a patched copy of validate/validate.proto (its java/ and
 * tests/ trees are not Envoy's).
 */
const PGV_ROOT = 'pgv';
const VALIDATE_PROTO = join('validate', 'validate.proto');

class BuildError extends Error {}

const require = createRequire(import.meta.url);

function depsDir(): string {
  try {
    return join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  } catch {
    throw new BuildError('@grpc/grpc-js-xds (it ships the Envoy API protos) is not installed; run `npm ci` with dev dependencies');
  }
}

/** The buf CLI's node launcher from @bufbuild/buf, run with our own node so PATH does not matter. */
function bufLauncher(): string {
  try {
    const pkgPath = require.resolve('@bufbuild/buf/package.json');
    const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { bin: Record<string, string> };
    return join(dirname(pkgPath), pkg.bin['buf']!);
  } catch {
    throw new BuildError('the buf compiler (@bufbuild/buf) is not installed, so the Envoy schema cannot be built; run `npm ci` with dev dependencies');
  }
}

function protoFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.proto'))
    .map((f) => join(dir, f));
}

/**
 * Newest change among the inputs. ctime too, because npm extracts packages with a fixed old
 * mtime: after an upgrade of @grpc/grpc-js-xds only the ctime says the protos are new.
 */
function newestChange(paths: readonly string[]): number {
  return paths.reduce((newest, p) => {
    const stat = statSync(p);
    return Math.max(newest, stat.mtimeMs, stat.ctimeMs);
  }, 0);
}

/**
 * The bundled validate.proto predates the envoy-api copy: StringRules lacks `ignore_empty`
 * (field 26), which envoy-api uses, and buf refuses to compile without it.
 */
function patchValidateProto(text: string): string {
  if (/\bignore_empty\b/.test(text)) return text;
  const patched = text.replace(/(optional bool strict = 25 \[default = true\];)(\r?\n)/, '$1$2  optional bool ignore_empty = 26;$2');
  if (patched === text) throw new BuildError('validate.proto in @grpc/grpc-js-xds changed shape; update patchValidateProto in scripts/build-schema.ts');
  return patched;
}

const IMPORT = /^\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;/gm;

/**
 * Every envoy v3 file whose transitive imports all exist. The package leaves out the v2 tree and
 * some third-party protos (OpenCensus, OpenTelemetry, Prometheus), so a handful of v3 files
 * cannot compile; everything else, bootstrap's closure and all typed_config extensions, can.
 * google/protobuf/* comes with buf itself.
 */
function compilableV3Files(workspace: string): string[] {
  const roots = [...LINKED_ROOTS, PGV_ROOT];
  const verdict = new Map<string, boolean>();
  const resolves = (importPath: string): boolean => {
    if (importPath.startsWith('google/protobuf/')) return true;
    const cached = verdict.get(importPath);
    if (cached !== undefined) return cached;
    verdict.set(importPath, true); // an import cycle is buf's error to report; do not recurse forever
    const file = roots.map((r) => join(workspace, r, importPath)).find((p) => existsSync(p));
    const ok = file !== undefined && [...readFileSync(file, 'utf8').matchAll(IMPORT)].every((m) => resolves(m[1]!));
    verdict.set(importPath, ok);
    return ok;
  };
  const envoyRoot = join(workspace, 'envoy-api');
  return protoFiles(envoyRoot)
    .map((p) => relative(envoyRoot, p).split(sep).join('/'))
    .filter((p) => p.split('/').includes('v3') && resolves(p))
    .sort();
}

function buildSchema(): { skipped: boolean; files: number } {
  const deps = depsDir();
  const inputs = [...protoFiles(deps), SCRIPT_SOURCE].filter((p) => existsSync(p));
  if (existsSync(SCHEMA_PATH) && statSync(SCHEMA_PATH).mtimeMs > newestChange(inputs)) return { skipped: true, files: 0 };

  const buf = bufLauncher();
  const workspace = mkdtempSync(join(tmpdir(), 'kuma-dp-schema-'));
  const partial = `${SCHEMA_PATH}.${process.pid}.tmp`;
  try {
    // Links, not copies: node_modules stays untouched and nothing big is copied.
    for (const root of LINKED_ROOTS) symlinkSync(join(deps, root), join(workspace, root), 'dir');
    mkdirSync(join(workspace, PGV_ROOT, 'validate'), { recursive: true });
    const validate = readFileSync(join(deps, 'protoc-gen-validate', VALIDATE_PROTO), 'utf8');
    writeFileSync(join(workspace, PGV_ROOT, VALIDATE_PROTO), patchValidateProto(validate));
    const modules = [...LINKED_ROOTS, PGV_ROOT].map((root) => `  - path: ${root}`);
    writeFileSync(join(workspace, 'buf.yaml'), ['version: v2', 'modules:', ...modules, ''].join('\n'));

    const files = compilableV3Files(workspace);
    mkdirSync(dirname(SCHEMA_PATH), { recursive: true });
    const args = ['build', '--as-file-descriptor-set', '--exclude-source-info', '-o', partial, ...files.flatMap((f) => ['--path', `envoy-api/${f}`])];
    try {
      execFileSync(process.execPath, [buf, ...args], { cwd: workspace, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    } catch (err) {
      const stderr = ((err as { stderr?: string }).stderr ?? '').trim();
      throw new BuildError(`buf could not compile the Envoy protos: ${stderr.split('\n').slice(0, 5).join(' | ') || (err as Error).message}`);
    }
    renameSync(partial, SCHEMA_PATH);
    return { skipped: false, files: files.length };
  } finally {
    rmSync(partial, { force: true });
    rmSync(workspace, { recursive: true, force: true }); // removes the links, not what they point to
  }
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
function extractTables(): { skipped: boolean; types: number } {
  if (existsSync(TABLES_PATH) && statSync(TABLES_PATH).mtimeMs > newestChange([SCHEMA_PATH, SCRIPT_SOURCE, TABLES_SOURCE])) return { skipped: true, types: 0 };
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(SCHEMA_PATH)));
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
  const partial = `${TABLES_PATH}.${process.pid}.tmp`;
  try {
    writeFileSync(partial, encodeTables(packages));
    renameSync(partial, TABLES_PATH);
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

const started = performance.now();
try {
  const result = buildSchema();
  const where = relative(PACKAGE_ROOT, SCHEMA_PATH);
  const tables = extractTables();
  const tablesWhere = relative(PACKAGE_ROOT, TABLES_PATH);
  const ms = Math.round(performance.now() - started);
  process.stdout.write(
    [
      result.skipped ? `build-schema: ${where} is up to date` : `build-schema: wrote ${where} from ${result.files} Envoy v3 proto files`,
      tables.skipped ? `${tablesWhere} is up to date` : `wrote ${tablesWhere} (${tables.types} types)`,
    ].join('; ') + ` (${ms} ms)\n`,
  );
} catch (err) {
  process.stderr.write(`build-schema: ${err instanceof BuildError ? err.message : String(err)}\n`);
  process.exit(1);
}
