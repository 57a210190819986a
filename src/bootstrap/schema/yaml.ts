import { CORE_SCHEMA, load, YAMLException } from 'js-yaml';

/**
 * What aliases may add to a document, in nodes and string characters beyond the document's own
 * length (without aliases a document never holds more than its text). js-yaml shares an aliased
 * node instead of copying it, so a few hundred bytes of nested aliases (a "billion laughs") parse
 * at once and then hold the main thread for minutes in whatever walks or serializes the result.
 * Kuma's bootstraps use no aliases; a template reusing a block of tags a few times stays far below.
 */
const MAX_ALIAS_EXPANSION = 100_000;
/**
 * Nesting reached through aliases (js-yaml stops plain nesting at 100 levels, but not nesting
 * through aliases): deep enough for the schema check to report its own 100-level limit, shallow
 * enough for every recursive walk of the document.
 */
const MAX_ALIAS_DEPTH = 1000;

type ParsedYaml = { value: unknown } | { error: string; refused?: true };

/**
 * YAML text → plain JS value, or one line "line L, column C: reason" for the first syntax error,
 * or `refused` for aliases that expand the document past MAX_ALIAS_EXPANSION or MAX_ALIAS_DEPTH.
 * js-yaml's core schema (YAML 1.2's, as the `yaml` package read before, with small differences:
 * a tag other than the core ones is an error, `-.5` is a string, `0b101` a number); a key given
 * twice is an error. js-yaml, not the bigger `yaml` package: on a cold start it parses a bootstrap
 * and a Dataplane template in a third of the time, ~8 ms of every `run`'s way to Envoy's exec.
 */
export function parseYaml(text: string): ParsedYaml {
  let value: unknown;
  try {
    value = load(text, { schema: CORE_SCHEMA });
  } catch (err) {
    if (!(err instanceof YAMLException)) throw err;
    return { error: yamlErrorLine(err) };
  }
  // No alias without a `*`: most documents need no walk.
  if (!text.includes('*')) return { value };
  let size: number;
  try {
    size = extentOf(value, new Map(), new Set(), 0).size;
  } catch (err) {
    if (!(err instanceof TooDeep)) throw err;
    return { error: `its YAML aliases nest it more than ${MAX_ALIAS_DEPTH.toLocaleString('en')} levels deep`, refused: true };
  }
  if (size > text.length + MAX_ALIAS_EXPANSION) {
    return { error: `its YAML aliases expand it by more than ${MAX_ALIAS_EXPANSION.toLocaleString('en')} nodes and characters (a YAML bomb)`, refused: true };
  }
  return { value };
}

/** "line L, column C: reason", or the reason alone when js-yaml knows no position. */
function yamlErrorLine(err: YAMLException): string {
  // Both are missing from an exception js-yaml raises without a position.
  const reason = err.reason || err.message.split('\n')[0]!;
  return err.mark ? `line ${err.mark.line + 1}, column ${err.mark.column + 1}: ${reason}` : reason;
}

class TooDeep extends Error {}

interface Extent {
  /** Nodes and string characters below and including this node, aliases expanded. */
  size: number;
  /** Levels below this node, aliases expanded. */
  height: number;
}

/**
 * The node's extent as a walk of the document meets it, each alias expanded, or TooDeep past
 * MAX_ALIAS_DEPTH; linear in the distinct nodes (each node's extent is kept). A node containing
 * itself counts once: the schema check reports it.
 */
function extentOf(node: unknown, extents: Map<object, Extent>, open: Set<object>, depth: number): Extent {
  if (typeof node === 'string') return { size: 1 + node.length, height: 0 };
  if (typeof node !== 'object' || node === null || open.has(node)) return { size: 1, height: 0 };
  let extent = extents.get(node);
  if (extent === undefined) {
    if (depth >= MAX_ALIAS_DEPTH) throw new TooDeep();
    open.add(node);
    extent = { size: 1, height: 0 };
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      const below = extentOf(child, extents, open, depth + 1);
      extent.size += below.size;
      extent.height = Math.max(extent.height, below.height + 1);
    }
    open.delete(node);
    extents.set(node, extent);
  }
  if (depth + extent.height > MAX_ALIAS_DEPTH) throw new TooDeep();
  return extent;
}
