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

const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCHEMA_PATH = join(PACKAGE_ROOT, 'dist', 'schema', 'envoy-v3.binpb');
const TABLES_PATH = join(PACKAGE_ROOT, 'dist', 'schema', 'envoy-v3.tables');
/** The script's source, not its output: tsc rewrites dist/scripts/*.js on every build. */
const SCRIPT_SOURCE = join(PACKAGE_ROOT, 'scripts', 'build-schema.ts');

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

function installedBufPackage(): string[] {
  try {
    return [require.resolve('@bufbuild/buf/package.json')];
  } catch {
    return [];
  }
}

function protoFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.proto'))
    .map((f) => join(dir, f));
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

function buildSchema(newestChange: (paths: readonly string[]) => number): { skipped: boolean; files: number } {
  const deps = depsDir();
  // buf's own package too, when it is there: another buf may compile the same protos differently.
  const inputs = [...protoFiles(deps), SCRIPT_SOURCE, ...installedBufPackage()].filter((p) => existsSync(p));
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

const started = performance.now();
try {
  // Loaded here: without @bufbuild/protobuf it is one line, like a missing buf or grpc-js-xds.
  const { extractTables, newestChange } = await import('./schema-tables.js').catch(() => {
    throw new BuildError('@bufbuild/protobuf (it reads the compiled descriptors) is not installed; run `npm ci` with dev dependencies');
  });
  const result = buildSchema(newestChange);
  const where = relative(PACKAGE_ROOT, SCHEMA_PATH);
  const tables = extractTables(SCHEMA_PATH, TABLES_PATH);
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
