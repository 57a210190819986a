import { readFileSync } from 'node:fs';
import { createFileRegistry, fromBinary, fromJson, toJson, type DescMessage, type FileRegistry, type JsonValue } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { expect } from 'chai';
import { load as parse } from 'js-yaml';
import { renderLocalBootstrap, type LocalBootstrapInput } from '../../src/bootstrap/local/generate.js';
import { readProtoJson } from '../../src/bootstrap/schema/proto-json.js';
import { BOOTSTRAP_TYPE, bootstrapRuleProblems } from '../../src/bootstrap/schema/rules.js';
import { SchemaTables } from '../../src/bootstrap/schema/tables.js';
import { packagePath } from '../../src/package-root.js';
import { defaultBootstrapYaml } from '../doubles/kuma-cp-double.js';
import { anyOf, GOOD_YAML, KUMA_CP_SHAPED, type Json } from './fixtures.js';

/**
 * readProtoJson replaced @bufbuild/protobuf's fromJson as the bootstrap schema check and is meant
 * to accept exactly what fromJson accepts, except for a few deliberate, stricter rules (the last
 * describe block). Hand-written cases only cover what someone thought of; this feeds both readers
 * a deterministic corpus of mutated real bootstraps and requires the same accept/reject verdict.
 */

type Doc = { [key: string]: Json };
type Path = (string | number)[];

const LOCAL_INPUT: LocalBootstrapInput = {
  cpAddress: 'https://kuma-cp.example:5678',
  mesh: 'default',
  name: 'web-1',
  workdir: '/tmp/kuma-dp-test',
  caCertPem: '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2E=\n-----END CERTIFICATE-----\n',
  kumaDpVersion: '0.1.0',
  envoyVersion: '1.34.1',
  features: ['feature-tcp-accesslog-via-named-pipe'],
  readinessPort: 9902,
  dnsPort: 15053,
};

/** The bootstraps kuma-dp meets: hand-written ones, each branch of the shipped template, and kuma-cp's (its test double). */
function seeds(): { name: string; doc: Doc }[] {
  const local = (overrides: Partial<LocalBootstrapInput>): Doc => renderLocalBootstrap({ ...LOCAL_INPUT, ...overrides }).document as Doc;
  return [
    { name: 'GOOD_YAML', doc: parse(GOOD_YAML) as Doc },
    { name: 'KUMA_CP_SHAPED', doc: structuredClone(KUMA_CP_SHAPED) },
    { name: 'template: https host name, CA PEM, token, admin socket', doc: local({ adminSocket: true, token: 'eyJhbGciOiJSUzI1NiJ9.e30.c2ln' }) },
    {
      name: 'template: http IP, admin port from the Dataplane',
      doc: local({
        cpAddress: 'http://127.0.0.1:5681',
        caCertPem: undefined,
        dataplane: { type: 'Dataplane', mesh: 'default', name: 'web-1', networking: { address: '10.0.0.5', admin: { port: 9911 }, inbound: [{ port: 11011, tags: { 'kuma.io/service': 'web' } }] } },
      }),
    },
    { name: 'template: https IP, system CA file', doc: local({ cpAddress: 'https://10.0.0.1:5678', caCertPem: undefined, systemCaPath: '/etc/ssl/certs/ca-certificates.crt' }) },
    {
      name: 'kuma-cp double',
      doc: parse(
        defaultBootstrapYaml({ mesh: 'default', name: 'web-1', workdir: '/tmp/kuma-dp', version: { kumaDp: { version: '0.1.0' } }, features: ['a'] }, { ads: { address: '127.0.0.1', port: 5678 } }),
      ) as Doc,
    },
  ];
}

/** mulberry32: a fixed corpus, so a disagreement reproduces on every run and machine. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Random = () => number;
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

const isObject = (value: unknown): value is Doc => typeof value === 'object' && value !== null && !Array.isArray(value);

function pathText(path: Path): string {
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(part) ? `${i ? '.' : ''}${part}` : `[${JSON.stringify(part)}]`)).join('') || '(root)';
}

interface Place {
  path: Path;
  value: Json;
}

/** Every value of the document with its path, the root included. */
function places(doc: Json, path: Path = [], into: Place[] = []): Place[] {
  into.push({ path, value: doc });
  if (Array.isArray(doc)) doc.forEach((item, i) => places(item, [...path, i], into));
  else if (isObject(doc)) for (const [key, value] of Object.entries(doc)) places(value, [...path, key], into);
  return into;
}

function at(doc: Json, path: Path): Json {
  return path.reduce<Json>((value, part) => (value as Record<string | number, Json>)[part]!, doc);
}

/** defineProperty, so that a key such as "__proto__" becomes an own key like JSON.parse makes it. */
function put(holder: Doc | Json[], key: string | number, value: Json): void {
  Object.defineProperty(holder, key, { value, enumerable: true, writable: true, configurable: true });
}

function replace(doc: Doc, path: Path, value: Json): void {
  put(at(doc, path.slice(0, -1)) as Doc, path[path.length - 1]!, value);
}

/** Renames a key in place, keeping the key order (which decides which of two problems is met first). */
function renameKey(holder: Doc, from: string, to: string): void {
  const entries = Object.entries(holder).map(([key, value]): [string, Json] => [key === from ? to : key, value]);
  for (const key of Object.keys(holder)) delete holder[key];
  for (const [key, value] of entries) put(holder, key, value);
}

const snakeToCamel = (key: string): string => key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const camelToSnake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** A value that looks like a Duration: replaced only by values both readers agree on (see "deliberate differences"). */
const DURATION_LIKE = /^-?[0-9]+(\.[0-9]+)?s$/;
const DURATIONS: Json[] = ['5', '5s', '1.5s', '-1s', 5, '', '1m', '0s', '0.000000001s', '-0.5s', '315576000000s', '315576000001s', '-315576000001s', 's', '.5s', null, {}];

const REPLACEMENTS: Json[] = [
  0, 7, -1, 1.5, -2.5, 2 ** 31, 2 ** 32, 2 ** 40, -(2 ** 31), -(2 ** 31) - 1, 2 ** 53, 1e21, 3.5e38, 1e39, Infinity, NaN,
  '12', '-12', ' 12', '12 ', '0x10', '1e3', '1.5', '-0', '007', '4294967295', '4294967296', '9223372036854775807', '9223372036854775808',
  '-9223372036854775809', '18446744073709551615', '18446744073709551616',
  true, false, null, '', 'text', 'NaN', 'Infinity', '-Infinity', 'nan', '\uD800', 'true',
  [], [1], ['a'], [{}], {}, { a: 1 }, { path: '/tmp/x' },
];

const ENUM_LIKE = /^[A-Z][A-Za-z0-9_]*$/;
const ENUM_REPLACEMENTS: Json[] = [0, 1, 2, 3, 7, 99, -1, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 1.5, '1', '0', '', null, true, 'UNKNOWN', 'DEFAULT', 'AUTO', 'STATIC', 'V3'];

const ANY_TYPES = [
  'envoy.extensions.access_loggers.file.v3.FileAccessLog',
  'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  'envoy.extensions.regex_engines.v3.GoogleRE2',
  'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
  'envoy.config.cluster.v3.Cluster',
  'envoy.config.core.v3.Address',
  'envoy.config.cluster.v3.Cluster.CommonLbConfig',
  'envoy.config.cluster.v3.Cluster.DiscoveryType',
  'validate.FieldRules',
  'google.protobuf.Empty',
];

/** Whole Any values of the well-known types, whose JSON form puts the value under "value". */
const WELL_KNOWN_ANYS: Json[] = [
  anyOf('google.protobuf.Duration', { value: '5s' }),
  anyOf('google.protobuf.Duration', { value: 5 }),
  anyOf('google.protobuf.Duration', { value: '1.5s' }),
  anyOf('google.protobuf.Duration'),
  anyOf('google.protobuf.Struct', { value: { a: [1, 'b', null] } }),
  anyOf('google.protobuf.Struct', { a: 1 }),
  anyOf('google.protobuf.Struct', { value: 7 }),
  anyOf('google.protobuf.Value', { value: null }),
  anyOf('google.protobuf.Value', { value: [1, { x: true }] }),
  anyOf('google.protobuf.ListValue', { value: [1] }),
  anyOf('google.protobuf.ListValue', { value: {} }),
  anyOf('google.protobuf.UInt32Value', { value: 5 }),
  anyOf('google.protobuf.UInt32Value', { value: -1 }),
  anyOf('google.protobuf.UInt32Value', { value: null }),
  anyOf('google.protobuf.BoolValue', { value: 'true' }),
  anyOf('google.protobuf.StringValue', { value: 'x' }),
  anyOf('google.protobuf.Timestamp', { value: '2024-01-31T12:00:00Z' }),
  anyOf('google.protobuf.Timestamp', { value: '2024-01-31T12:00:00.123+01:00' }),
  anyOf('google.protobuf.Timestamp', { value: '2024-01-31 12:00:00Z' }),
  anyOf('google.protobuf.Timestamp', { value: '10000-01-01T00:00:00Z' }),
  anyOf('google.protobuf.Timestamp', { value: '2024-02-30T00:00:00Z' }),
  anyOf('google.protobuf.Timestamp', { value: '2024-01-31T24:00:00Z' }),
  anyOf('google.protobuf.Timestamp', { value: '0000-12-31T23:59:59Z' }),
  anyOf('google.protobuf.Timestamp', { value: '9999-12-31T23:59:59.999999999Z' }),
  anyOf('google.protobuf.Timestamp', { value: '9999-12-31T23:30:00-01:00' }),
  anyOf('google.protobuf.Timestamp', { value: '2024-01-31T12:00:00.1234567890Z' }),
  anyOf('google.protobuf.Timestamp', { value: '2024-01-31T12:00:00z' }),
  anyOf('google.protobuf.Timestamp', { value: 1706702400 }),
  anyOf('validate.StringRules', { email: true, well_known_regex: null }),
  anyOf('validate.StringRules', { email: null, hostname: true }),
  anyOf('validate.FieldRules', { string: { min_len: '1' }, int32: null }),
  anyOf('validate.FieldRules', { string: null, int32: { gt: 1 } }),
  anyOf('google.protobuf.FieldMask', { value: 'a.b,cD' }),
  anyOf('google.protobuf.FieldMask', { value: 'a_b' }),
  anyOf('google.protobuf.Any', { value: anyOf('envoy.extensions.access_loggers.file.v3.FileAccessLog', { path: '/x' }) }),
  anyOf('google.protobuf.Any', { value: { path: '/x' } }),
  anyOf('google.protobuf.Empty', { value: {} }),
  {},
];

/**
 * Maps with integer keys, reachable through an Any: keys are JSON strings, compared by value
 * ("01" and "1" are one key, and for 32-bit keys also "16" and "0x10").
 */
const INTEGER_KEYED_MAPS: { type: string; field: string; values: Json[] }[] = [
  // map<int64, int32>
  { type: 'google.api.expr.v1alpha1.SourceInfo', field: 'positions', values: [1, '2', -3, 1.5, 2 ** 31, null, 'x'] },
  // map<uint32, ParameterMatchSpecifier>
  { type: 'envoy.extensions.filters.network.dubbo_proxy.v3.MethodMatch', field: 'params_match', values: [{ exact_match: 'x' }, {}, null, 1] },
];

/** Spellings of one number each, so that keys drawn from one group often collide. */
const INTEGER_KEY_GROUPS = [
  ['1', '01', '001', '+1', '1.0', '1e0', ' 1', '1 '],
  ['16', '016', '0x10', '1.6e1', '16.5'],
  ['0', '-0', '00', '-00', '0.0', ''],
  ['-1', '-01', '-1.0', 'a', '-'],
  ['4294967295', '4294967296', '2147483648', '-2147483648', '-2147483649'],
  ['9223372036854775807', '9223372036854775808', '-9223372036854775808', '-9223372036854775809', '18446744073709551615', '18446744073709551616'],
];

/**
 * Members of one oneof, by a key a seed has: [present, another member, its value]. A null
 * scalar member sets nothing, a null message member still counts; both readers must agree.
 */
const ONEOF_PARTNERS: [string, string, Json][] = [
  ['socket_address', 'pipe', { path: '/tmp/x.sock' }],
  ['socket_address', 'envoy_internal_address', { server_listener_name: 'x' }],
  ['pipe', 'socket_address', { address: '127.0.0.1', port_value: 1 }],
  ['type', 'cluster_type', { name: 'envoy.clusters.aggregate' }],
  ['filename', 'inline_string', 'x'],
  ['filename', 'environment_variable', 'X'],
  ['inline_string', 'filename', '/x'],
  ['inline_string', 'inline_bytes', 'AAAA'],
  ['ads', 'api_config_source', { api_type: 'GRPC' }],
  ['ads', 'path', '/x'],
  ['ads', 'self', {}],
  ['envoy_grpc', 'google_grpc', { target_uri: 'x', stat_prefix: 'y' }],
  ['port_value', 'named_port', 'http'],
  ['static_layer', 'admin_layer', {}],
  ['admin_layer', 'rtds_layer', { name: 'x' }],
  ['admin_layer', 'disk_layer', { symlink_root: '/x' }],
  ['exact', 'prefix', 'x'],
  ['http2_protocol_options', 'http_protocol_options', {}],
  ['explicit_http_config', 'auto_config', {}],
  ['validation_context', 'validation_context_sds_secret_config', { name: 'x' }],
];

const BYTES: Json[] = ['', 'AAAA', 'AA==', 'AA=', 'AA', 'AAA', 'AAA=', 'A', 'AAAAA', 'A===', 'A=', '-_-_', '+/+/', '-_+/', 'AA AA', 'AA\nAA', 'AA\r\n', '\tAAAA', 'AA==AA', 'AAAA====', '!!!!', 'AA.A', 'AAé', '=AAA', 'A=AA', 'AA%3D', 7, null, []];

/**
 * A field of each scalar kind, reachable through an Any: the seeds themselves hold few kinds
 * (no 64-bit integers, floats or bytes). The validate.* rules are proto2, so their enum is closed.
 */
const SCALAR_FIELDS: { type: string; field: string; bytes?: true; values?: Json[] }[] = [
  { type: 'validate.DoubleRules', field: 'const' },
  { type: 'validate.DoubleRules', field: 'in' },
  { type: 'validate.FloatRules', field: 'const' },
  { type: 'validate.FloatRules', field: 'in' },
  { type: 'validate.Int32Rules', field: 'const' },
  { type: 'validate.Int32Rules', field: 'in' },
  { type: 'validate.UInt32Rules', field: 'const' },
  { type: 'validate.SInt32Rules', field: 'const' },
  { type: 'validate.Fixed32Rules', field: 'const' },
  { type: 'validate.SFixed32Rules', field: 'const' },
  { type: 'validate.Int64Rules', field: 'const' },
  { type: 'validate.Int64Rules', field: 'in' },
  { type: 'validate.UInt64Rules', field: 'const' },
  { type: 'validate.SInt64Rules', field: 'const' },
  { type: 'validate.Fixed64Rules', field: 'const' },
  { type: 'validate.SFixed64Rules', field: 'const' },
  { type: 'validate.BoolRules', field: 'const' },
  { type: 'validate.StringRules', field: 'const' },
  { type: 'validate.StringRules', field: 'in' },
  { type: 'validate.BytesRules', field: 'const', bytes: true },
  { type: 'validate.BytesRules', field: 'in', bytes: true },
  { type: 'envoy.config.core.v3.KeyValue', field: 'value', bytes: true },
  { type: 'envoy.config.core.v3.RuntimeFeatureFlag', field: 'default_value' },
  { type: 'validate.StringRules', field: 'well_known_regex', values: ENUM_REPLACEMENTS.concat(['HTTP_HEADER_NAME', 'UNKNOWN', 'http_header_name']) },
  { type: 'envoy.type.v3.FractionalPercent', field: 'denominator', values: ENUM_REPLACEMENTS.concat(['HUNDRED', 'TEN_THOUSAND', 'MILLION', 'hundred']) },
];

type Mutation = (doc: Doc, random: Random) => string | undefined;

/** The places below the root, whose key or index can be changed, renamed or removed. */
const inner = (doc: Doc): Place[] => places(doc).filter((p) => p.path.length > 0);
const keyed = (doc: Doc): Place[] => inner(doc).filter((p) => typeof p.path[p.path.length - 1] === 'string');
const objects = (doc: Doc): Place[] => places(doc).filter((p) => isObject(p.value));

function choose(random: Random, candidates: Place[]): Place | undefined {
  return candidates.length === 0 ? undefined : pick(random, candidates);
}

const MUTATIONS: [name: string, weight: number, mutate: Mutation][] = [
  [
    'rename key',
    4,
    (doc, random) => {
      const place = choose(random, keyed(doc));
      if (!place) return undefined;
      const from = place.path[place.path.length - 1] as string;
      const variants = [
        from.slice(1),
        from.slice(0, -1),
        `${from}s`,
        from.length > 2 ? `${from[0]}${from[2]}${from[1]}${from.slice(3)}` : `${from}x`,
        from.toUpperCase(),
        `${from.charAt(0).toUpperCase()}${from.slice(1)}`,
        ` ${from}`,
        snakeToCamel(from),
        snakeToCamel(from),
        camelToSnake(from),
        'x_unknown',
        'unknownField',
        '__proto__',
        'constructor',
        'toString',
        '[envoy.not.an.extension]',
        '\uD800',
        '@type',
      ];
      const to = pick(random, variants);
      const holder = at(doc, place.path.slice(0, -1)) as Doc;
      if (to === from || Object.hasOwn(holder, to)) return undefined;
      renameKey(holder, from, to);
      return `rename key at ${pathText(place.path)} to ${JSON.stringify(to)}`;
    },
  ],
  [
    'delete',
    2,
    (doc, random) => {
      const place = choose(random, inner(doc));
      if (!place) return undefined;
      const holder = at(doc, place.path.slice(0, -1));
      const key = place.path[place.path.length - 1]!;
      if (Array.isArray(holder)) holder.splice(key as number, 1);
      else delete (holder as Doc)[key as string];
      return `delete ${pathText(place.path)}`;
    },
  ],
  [
    'replace value',
    6,
    (doc, random) => {
      const all = inner(doc);
      // Mostly leaves: that is where the scalar rules (integers as strings, ranges, ...) are.
      const leaves = all.filter((p) => p.value === null || typeof p.value !== 'object');
      const place = choose(random, random() < 0.75 ? leaves : all);
      if (!place) return undefined;
      const durationLike = typeof place.value === 'string' && DURATION_LIKE.test(place.value);
      const value = structuredClone(pick(random, durationLike ? DURATIONS : REPLACEMENTS));
      replace(doc, place.path, value);
      return `replace ${pathText(place.path)} (${JSON.stringify(place.value)}) with ${String(JSON.stringify(value) ?? value)}`;
    },
  ],
  [
    'enum',
    3,
    (doc, random) => {
      const place = choose(random, keyed(doc).filter((p) => typeof p.value === 'string' && ENUM_LIKE.test(p.value) && p.path[p.path.length - 1] !== '@type'));
      if (!place) return undefined;
      const name = place.value as string;
      const value = pick(random, [...ENUM_REPLACEMENTS, name.toLowerCase(), `${name}X`, name.slice(0, -1), ` ${name}`]);
      replace(doc, place.path, value);
      return `enum ${pathText(place.path)} (${name}) set to ${JSON.stringify(value)}`;
    },
  ],
  [
    'oneof',
    3,
    (doc, random) => {
      const options = objects(doc).flatMap((p) => ONEOF_PARTNERS.filter(([present]) => Object.hasOwn(p.value as Doc, present)).map((partner) => [p, partner] as const));
      if (options.length === 0) return undefined;
      const [place, [present, other, value]] = pick(random, options);
      const holder = place.value as Doc;
      const key = random() < 0.25 ? snakeToCamel(other) : other;
      const given = random() < 0.2 ? null : structuredClone(value);
      if (Object.hasOwn(holder, key)) return undefined;
      put(holder, key, given);
      return `oneof: ${pathText(place.path)} has ${present}, add ${key}: ${JSON.stringify(given)}`;
    },
  ],
  [
    'any @type',
    3,
    (doc, random) => {
      const place = choose(random, objects(doc).filter((p) => Object.hasOwn(p.value as Doc, '@type')));
      if (!place) return undefined;
      const holder = place.value as Doc;
      // A first mutation may have left "@type" a number or null.
      const typeUrl = String(holder['@type']);
      const typeName = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
      const choice = Math.floor(random() * 9);
      if (choice === 0) {
        const value = structuredClone(pick(random, WELL_KNOWN_ANYS));
        replace(doc, place.path, value);
        return `replace the Any at ${pathText(place.path)} with ${JSON.stringify(value)}`;
      }
      if (choice === 1) {
        delete holder['@type'];
        return `delete "@type" at ${pathText(place.path)}`;
      }
      const newUrl = pick(random, [
        `type.googleapis.com/${pick(random, ANY_TYPES)}`,
        `type.googleapis.com/${pick(random, ANY_TYPES)}`,
        `type.googleapis.com/${pick(random, ANY_TYPES)}`,
        typeName,
        `example.com/a/b/${typeName}`,
        `type.googleapis.com/${typeName}X`,
        `type.googleapis.com/envoy.extensions.nope.v3.Nope`,
        `type.googleapis.com/${typeName.split('.').slice(0, -1).join('.')}`,
        'type.googleapis.com/',
        '',
        7,
        null,
      ]);
      holder['@type'] = newUrl;
      return `set "@type" at ${pathText(place.path)} (${typeName}) to ${JSON.stringify(newUrl)}`;
    },
  ],
  [
    'wrap in a list',
    1,
    (doc, random) => {
      const place = choose(random, inner(doc));
      if (!place) return undefined;
      replace(doc, place.path, [place.value]);
      return `wrap ${pathText(place.path)} in a list`;
    },
  ],
  [
    'unwrap a list',
    1,
    (doc, random) => {
      const place = choose(random, inner(doc).filter((p) => Array.isArray(p.value)));
      if (!place) return undefined;
      const list = place.value as Json[];
      const value = list.length > 0 ? list[0]! : {};
      replace(doc, place.path, value);
      return `unwrap the list at ${pathText(place.path)}`;
    },
  ],
  [
    'null list item',
    1,
    (doc, random) => {
      const place = choose(random, places(doc).filter((p) => Array.isArray(p.value)));
      if (!place) return undefined;
      const list = place.value as Json[];
      const index = Math.floor(random() * (list.length + 1));
      list.splice(index, 0, null);
      return `insert null at ${pathText([...place.path, index])}`;
    },
  ],
  [
    'null value',
    2,
    (doc, random) => {
      const place = choose(random, objects(doc));
      if (!place) return undefined;
      const holder = place.value as Doc;
      const keys = Object.keys(holder);
      const key = keys.length > 0 && random() < 0.6 ? pick(random, keys) : pick(random, ['extra', 'envoy.extensions.x', 'name', 'metadata', '1']);
      put(holder, key, null);
      return `set ${pathText([...place.path, key])} to null`;
    },
  ],
  [
    'same field twice',
    2,
    (doc, random) => {
      const place = choose(random, keyed(doc).filter((p) => /_[a-z0-9]|[A-Z]/.test(p.path[p.path.length - 1] as string)));
      if (!place) return undefined;
      const key = place.path[place.path.length - 1] as string;
      const twin = key.includes('_') ? snakeToCamel(key) : camelToSnake(key);
      const holder = at(doc, place.path.slice(0, -1)) as Doc;
      if (twin === key || Object.hasOwn(holder, twin)) return undefined;
      const value = random() < 0.3 ? null : structuredClone(place.value);
      put(holder, twin, value);
      return `add ${twin}: ${JSON.stringify(value)} next to ${pathText(place.path)}`;
    },
  ],
  [
    'nesting depth',
    1,
    (doc, random) => {
      if (!isObject(doc['node'])) return undefined;
      // Around the recursion limit (100) of both readers: Bootstrap, Node and Struct count too.
      const depth = 88 + Math.floor(random() * 16);
      const lists = random() < 0.5;
      let value: Json = 'leaf';
      for (let i = 0; i < depth; i++) value = lists ? [value] : { a: value };
      doc['node']['metadata'] = lists ? { a: value } : (value as Doc);
      return `node.metadata nested ${depth} levels deep (${lists ? 'lists' : 'mappings'})`;
    },
  ],
  [
    'integer map keys',
    2,
    (doc, random) => {
      const place = choose(random, objects(doc).filter((p) => Object.hasOwn(p.value as Doc, '@type')));
      if (!place) return undefined;
      const { type, field, values } = pick(random, INTEGER_KEYED_MAPS);
      const map: Doc = {};
      const count = 1 + Math.floor(random() * 3);
      const group = pick(random, INTEGER_KEY_GROUPS);
      for (let i = 0; i < count; i++) {
        const key = pick(random, random() < 0.8 ? group : pick(random, INTEGER_KEY_GROUPS));
        put(map, key, structuredClone(pick(random, random() < 0.8 ? values.slice(0, 1) : values)));
      }
      const value = anyOf(type, { [field]: map });
      replace(doc, place.path, value);
      return `replace the Any at ${pathText(place.path)} with ${JSON.stringify(value)}`;
    },
  ],
  [
    'scalar kinds',
    3,
    (doc, random) => {
      const place = choose(random, objects(doc).filter((p) => Object.hasOwn(p.value as Doc, '@type')));
      if (!place) return undefined;
      const { type, field, bytes, values } = pick(random, SCALAR_FIELDS);
      const pool = values ?? (bytes ? [...BYTES, ...REPLACEMENTS] : REPLACEMENTS);
      const value = structuredClone(random() < 0.2 ? [pick(random, pool), pick(random, pool)] : pick(random, pool));
      const any = anyOf(type, { [snakeToCamel(field) !== field && random() < 0.3 ? snakeToCamel(field) : field]: value });
      replace(doc, place.path, any);
      return `replace the Any at ${pathText(place.path)} with ${String(JSON.stringify(any))}`;
    },
  ],
  [
    'bytes',
    1,
    (doc, random) => {
      const place = choose(random, objects(doc).filter((p) => Object.hasOwn(p.value as Doc, 'trusted_ca')));
      if (!place) return undefined;
      const value = pick(random, BYTES);
      (place.value as Doc)['trusted_ca'] = { inline_bytes: value };
      return `${pathText([...place.path, 'trusted_ca'])} set to inline_bytes ${JSON.stringify(value)}`;
    },
  ],
];

const TOTAL_WEIGHT = MUTATIONS.reduce((sum, [, weight]) => sum + weight, 0);

function mutateOnce(doc: Doc, random: Random): string {
  for (;;) {
    let roll = random() * TOTAL_WEIGHT;
    const [, , mutate] = MUTATIONS.find(([, weight]) => (roll -= weight) < 0) ?? MUTATIONS[0]!;
    const done = mutate(doc, random);
    if (done) return done;
  }
}

const DOCS_PER_SEED = 400;

interface Case {
  seed: string;
  mutation: string;
  doc: Doc;
}

/** The seeds unchanged, then DOCS_PER_SEED mutants of each, one or two mutations apiece. */
function corpus(): Case[] {
  const random = prng(0x6b756d61);
  const cases: Case[] = [];
  for (const { name, doc } of seeds()) {
    cases.push({ seed: name, mutation: '(none)', doc });
    for (let i = 0; i < DOCS_PER_SEED; i++) {
      const mutant = structuredClone(doc);
      const steps = random() < 0.2 ? 2 : 1;
      const applied: string[] = [];
      for (let s = 0; s < steps; s++) applied.push(mutateOnce(mutant, random));
      cases.push({ seed: name, mutation: applied.join('; then '), doc: mutant });
    }
  }
  return cases;
}

type Verdict = { ok: true } | { ok: false; reason: string };

/** The value at a problem's path (`a.b[0]["x.y"].c`), or undefined. */
function valueAt(doc: Doc, path: string): Json | undefined {
  let here: Json | undefined = doc;
  for (const [, name, index, quoted] of path.matchAll(/\.?([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g)) {
    const key: string | number = name ?? (index !== undefined ? Number(index) : (JSON.parse(quoted!) as string));
    here = here !== null && typeof here === 'object' ? (here as Record<string | number, Json>)[key] : undefined;
  }
  return here;
}

describe('bootstrap schema: readProtoJson agrees with @bufbuild/protobuf fromJson', function () {
  let registry: FileRegistry;
  let bootstrap: DescMessage;
  let tables: SchemaTables;

  let cases: ReturnType<typeof corpus>;

  before(function () {
    cases = corpus();
    registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(packagePath('dist', 'schema', 'envoy-v3.binpb'))));
    bootstrap = registry.getMessage(BOOTSTRAP_TYPE)!;
    tables = SchemaTables.load();
  });

  function oracle(doc: unknown): Verdict {
    try {
      fromJson(bootstrap, doc as JsonValue, { registry });
      return { ok: true };
    } catch (err) {
      return { ok: false, reason: (err as Error).message };
    }
  }

  function subject(doc: unknown): Verdict {
    const result = readProtoJson(tables, BOOTSTRAP_TYPE, doc);
    return 'canonical' in result ? { ok: true } : { ok: false, reason: `${result.problem.path}: ${result.problem.message}` };
  }

  const show = (verdict: Verdict): string => (verdict.ok ? 'accepted' : `rejected (${verdict.reason})`);

  it('gives the verdict of fromJson on every document of a mutated corpus', function () {
    const disagreements: string[] = [];
    let accepted = 0;
    for (const { seed, mutation, doc } of cases) {
      const theirs = oracle(doc);
      const ours = subject(doc);
      if (theirs.ok) accepted++;
      if (theirs.ok !== ours.ok) disagreements.push(`[${seed}] ${mutation}\n    bufbuild: ${show(theirs)}\n    readProtoJson: ${show(ours)}`);
    }
    expect(disagreements, `${disagreements.length} of ${cases.length} documents judged differently; the first:\n  ${disagreements.slice(0, 8).join('\n  ')}\n`).to.deep.equal([]);
    // Both sides of the verdict must be well represented, or agreement would prove little.
    const rejected = cases.length - accepted;
    expect(accepted, `accepted ${accepted} of ${cases.length}`).to.be.at.least(cases.length * 0.15);
    expect(rejected, `rejected ${rejected} of ${cases.length}`).to.be.at.least(cases.length * 0.15);
  });

  // The start-up rules read the canonical form readProtoJson returns; fromJson's message, written
  // back with proto names, is the reference for it. Only the places are compared: where a value is
  // at its default, bufbuild leaves the field out and the rule's wording differs ("missing"). For
  // the same reason a rule may object only in our form to a default given explicitly (an empty
  // cluster_name: Envoy refuses it too), and nowhere else.
  it('gives the start-up rules the same places to object to as the canonical form of fromJson, and never throws', function () {
    const disagreements: string[] = [];
    let checked = 0;
    for (const { seed, mutation, doc } of cases) {
      // What validateBootstrap runs; a throw here would be kuma-dp's "internal error".
      const ours = readProtoJson(tables, BOOTSTRAP_TYPE, doc);
      if (!('canonical' in ours)) continue;
      let reference: Doc;
      try {
        reference = toJson(bootstrap, fromJson(bootstrap, doc as JsonValue, { registry }), { registry, useProtoFieldName: true }) as Doc;
      } catch (err) {
        // A NaN inside a Struct: bufbuild reads it but cannot write it back. Nothing else is skipped.
        if (/NaN or Infinity/.test((err as Error).message)) continue;
        throw err;
      }
      const places = (canonical: Doc): string[] => bootstrapRuleProblems(tables, canonical).map((p) => p.path);
      checked += 1;
      const [mine, theirs] = [places(ours.canonical as Doc), places(reference)];
      const explicitDefault = (place: string): boolean => !theirs.includes(place) && ['', 0, false].includes(valueAt(ours.canonical as Doc, place) as never);
      if (mine.filter((place) => !explicitDefault(place)).join('|') !== theirs.join('|')) disagreements.push(`[${seed}] ${mutation}\n    ours: ${mine.join(', ') || 'none'}\n    from fromJson: ${theirs.join(', ') || 'none'}`);
    }
    expect(disagreements, `${disagreements.length} of ${checked} accepted documents differ; the first:\n  ${disagreements.slice(0, 8).join('\n  ')}\n`).to.deep.equal([]);
    expect(checked, 'accepted documents compared').to.be.at.least(300);
  });

  it('accepts every seed, as bufbuild does', function () {
    for (const { name, doc } of seeds()) {
      expect(oracle(doc), name).to.deep.equal({ ok: true });
      expect(subject(doc), name).to.deep.equal({ ok: true });
    }
  });

  describe('deliberate differences: stricter than bufbuild', function () {
    const withTimeout = (timeout: Json): Doc => {
      const doc = parse(GOOD_YAML) as Doc;
      ((doc['static_resources'] as Doc)['clusters'] as Doc[])[0]!['connect_timeout'] = timeout;
      return doc;
    };

    // bufbuild's duration pattern is unanchored at the end; Envoy's C++ parser refuses the rest.
    it('a duration with text after the "s"', function () {
      expect(oracle(withTimeout('5sabc')).ok).to.equal(true);
      expect(subject(withTimeout('5sabc')).ok).to.equal(false);
    });

    // Not a difference after all, but a near one: bufbuild has no digit limit either, yet fails on
    // a tenth decimal with a RangeError of its own ("0".repeat(-1)). Should bufbuild ever accept
    // such durations, this becomes a deliberate difference: Envoy refuses them.
    it('a duration with more than nine decimals (bufbuild refuses it too, by accident)', function () {
      expect(oracle(withTimeout('1.0000000001s')).ok).to.equal(false);
      expect(subject(withTimeout('1.0000000001s')).ok).to.equal(false);
      expect(oracle(withTimeout('1.000000001s')).ok).to.equal(true);
      expect(subject(withTimeout('1.000000001s')).ok).to.equal(true);
    });

    // bufbuild ignores an "[extension]" key when the registry knows the extension, even one that
    // extends another message (validate.rules extends FieldOptions); Envoy has no such keys.
    it('an "[extension]" key', function () {
      const doc = { ...(parse(GOOD_YAML) as Doc), '[validate.rules]': {} };
      expect(oracle(doc).ok).to.equal(true);
      expect(subject(doc).ok).to.equal(false);
    });
  });
});
