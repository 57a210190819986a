import { readFileSync } from 'node:fs';
import * as Protobuf from '@bufbuild/protobuf';
import * as Wire from '@bufbuild/protobuf/wire';
import * as Wkt from '@bufbuild/protobuf/wkt';
import { KumaDpError } from '../../errors.js';
import { packagePath } from '../../package-root.js';

/** Written by scripts/build-schema.ts; dist/src/bootstrap/schema/ → dist/schema/. */
const SCHEMA_PATH = packagePath('dist', 'schema', 'envoy-v3.binpb');
const BOOTSTRAP_FILE = 'envoy/config/bootstrap/v3/bootstrap.proto';
const BOOTSTRAP_TYPE = 'envoy.config.bootstrap.v3.Bootstrap';

export interface EnvoySchema {
  protobuf: typeof Protobuf;
  registry: Protobuf.FileRegistry;
  bootstrap: Protobuf.DescMessage;
}

interface Library {
  protobuf: typeof Protobuf;
  wire: typeof Wire;
  wkt: typeof Wkt;
}

interface DescriptorIndex {
  library: Library;
  /** Undecoded FileDescriptorProto bytes by file name. */
  chunks: Map<string, Uint8Array>;
  filesByPackage: Map<string, string[]>;
  decoded: Map<string, Wkt.FileDescriptorProto>;
  /** Each built registry with the files it holds; one holding all the files asked for is reused. */
  registries: { files: Set<string>; schema: EnvoySchema }[];
}

let index: DescriptorIndex | undefined;

/**
 * The Envoy v3 API types a bootstrap needs: Bootstrap's closure plus the packages of the given
 * typed_config "@type" names. The descriptor set holds all ~370 API files, but decoding and
 * linking all of them costs several times more than the handful a bootstrap uses, so files are
 * decoded on demand. This module (and @bufbuild/protobuf with it) is only ever imported
 * dynamically, so commands that never validate a bootstrap do not pay for loading it.
 */
export function envoySchema(anyTypeNames: Iterable<string> = []): EnvoySchema {
  const idx = (index ??= loadIndex());
  const files = new Set([BOOTSTRAP_FILE]);
  for (const typeName of anyTypeNames) for (const file of filesDeclaring(idx, typeName)) files.add(file);
  const cached = idx.registries.find((built) => [...files].every((file) => built.files.has(file)));
  if (cached) return cached.schema;

  const { protobuf, wkt } = idx.library;
  const ordered = dependencyOrder(idx, files);
  const registry = protobuf.createFileRegistry(protobuf.create(wkt.FileDescriptorSetSchema, { file: ordered }));
  const bootstrap = registry.getMessage(BOOTSTRAP_TYPE);
  if (!bootstrap) throw brokenSchema(`it has no ${BOOTSTRAP_TYPE}`);
  const schema = { protobuf, registry, bootstrap };
  idx.registries.push({ files, schema });
  return schema;
}

function loadIndex(): DescriptorIndex {
  const library: Library = { protobuf: Protobuf, wire: Wire, wkt: Wkt };
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(SCHEMA_PATH);
  } catch (err) {
    throw brokenSchema(`it cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const chunks = new Map<string, Uint8Array>();
  const filesByPackage = new Map<string, string[]>();
  const { BinaryReader, WireType } = library.wire;
  // FileDescriptorSet is `repeated FileDescriptorProto file = 1`; each file starts with its
  // name (1) and package (2), so indexing reads a few bytes per file and decodes nothing else.
  const set = new BinaryReader(bytes);
  while (set.pos < set.len) {
    const [fieldNo, wireType] = set.tag();
    if (fieldNo !== 1 || wireType !== WireType.LengthDelimited) {
      set.skip(wireType);
      continue;
    }
    const chunk = set.bytes();
    const head = headerOf(new BinaryReader(chunk), WireType.LengthDelimited);
    chunks.set(head.name, chunk);
    filesByPackage.set(head.pkg, [...(filesByPackage.get(head.pkg) ?? []), head.name]);
  }
  if (!chunks.has(BOOTSTRAP_FILE)) throw brokenSchema(`it has no ${BOOTSTRAP_FILE}`);
  return { library, chunks, filesByPackage, decoded: new Map(), registries: [] };
}

function headerOf(reader: Wire.BinaryReader, lengthDelimited: Wire.WireType): { name: string; pkg: string } {
  let name = '';
  let pkg = '';
  while (reader.pos < reader.len && (name === '' || pkg === '')) {
    const [fieldNo, wireType] = reader.tag();
    if (fieldNo === 1 && wireType === lengthDelimited) name = reader.string();
    else if (fieldNo === 2 && wireType === lengthDelimited) pkg = reader.string();
    else reader.skip(wireType);
  }
  return { name, pkg };
}

/** The files of the package a full type name belongs to (`a.b.v3.Msg.Nested` → package `a.b.v3`). */
function filesDeclaring(idx: DescriptorIndex, typeName: string): string[] {
  const parts = typeName.split('.');
  for (let n = parts.length - 1; n > 0; n--) {
    const files = idx.filesByPackage.get(parts.slice(0, n).join('.'));
    if (files) return files;
  }
  return [];
}

/** The files and their imports, each after its imports, as a FileDescriptorSet must list them. */
function dependencyOrder(idx: DescriptorIndex, roots: Iterable<string>): Wkt.FileDescriptorProto[] {
  const ordered: Wkt.FileDescriptorProto[] = [];
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    const file = decodedFile(idx, name);
    file.dependency.forEach(visit);
    ordered.push(file);
  };
  for (const root of roots) visit(root);
  return ordered;
}

function decodedFile(idx: DescriptorIndex, name: string): Wkt.FileDescriptorProto {
  let file = idx.decoded.get(name);
  if (!file) {
    const chunk = idx.chunks.get(name);
    if (!chunk) throw brokenSchema(`it lacks ${name}`);
    file = idx.library.protobuf.fromBinary(idx.library.wkt.FileDescriptorProtoSchema, chunk);
    idx.decoded.set(name, file);
  }
  return file;
}

function brokenSchema(reason: string): KumaDpError {
  return new KumaDpError(`the Envoy schema ${SCHEMA_PATH} is unusable: ${reason}`, {
    hint: 'run `npm run build` in the kuma-dp checkout to regenerate it',
  });
}
