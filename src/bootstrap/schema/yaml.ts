import { CORE_SCHEMA, load, YAMLException } from 'js-yaml';

/**
 * Nodes that aliases may add to a document. js-yaml shares an aliased node instead of copying
 * it, so a few hundred bytes of nested aliases (a "billion laughs") parse at once, and then
 * hold the main thread for minutes in whatever walks or serializes the result. Kuma's bootstraps
 * use no aliases at all; a template reusing a block of tags a few times stays far below this.
 */
const MAX_ALIASED_NODES = 10_000;

/**
 * YAML text → plain JS value, or one line "line L, column C: reason" for the first syntax error.
 * js-yaml's core schema (YAML 1.2's, as the `yaml` package read before, with small differences:
 * a tag other than the core ones is an error, `-.5` is a string, `0b101` a number); a key given
 * twice is an error; so are aliases adding more than MAX_ALIASED_NODES nodes. js-yaml, not the
 * bigger `yaml` package: on a cold start it parses a bootstrap and a Dataplane template in a
 * third of the time, ~8 ms of every `run`'s way to Envoy's exec.
 */
export function parseYaml(text: string): { value: unknown } | { error: string } {
  let value: unknown;
  try {
    value = load(text, { schema: CORE_SCHEMA });
  } catch (err) {
    if (!(err instanceof YAMLException)) throw err;
    return { error: yamlErrorLine(err) };
  }
  if (expandedSize(value, new Map(), new Set()) - distinctSize(value, new Set()) > MAX_ALIASED_NODES) {
    return { error: `its aliases expand to more than ${MAX_ALIASED_NODES} further nodes; write the repeated parts out, or fewer of them` };
  }
  return { value };
}

/** "line L, column C: reason", or the reason alone when js-yaml knows no position. */
function yamlErrorLine(err: YAMLException): string {
  // Both are missing from an exception js-yaml raises without a position.
  const reason = err.reason || err.message.split('\n')[0]!;
  return err.mark ? `line ${err.mark.line + 1}, column ${err.mark.column + 1}: ${reason}` : reason;
}

const childrenOf = (node: object): unknown[] => (Array.isArray(node) ? node : Object.values(node));

/**
 * Nodes as a walk of the document sees them, each alias expanded; linear in the distinct nodes
 * (sizes are kept per node). A node containing itself counts once: the schema check reports it.
 */
function expandedSize(node: unknown, sizes: Map<object, number>, open: Set<object>): number {
  if (typeof node !== 'object' || node === null) return 1;
  const known = sizes.get(node);
  if (known !== undefined) return known;
  if (open.has(node)) return 1;
  open.add(node);
  let size = 1;
  for (const child of childrenOf(node)) size += expandedSize(child, sizes, open);
  open.delete(node);
  sizes.set(node, size);
  return size;
}

/** Nodes as written: each aliased node once. */
function distinctSize(node: unknown, seen: Set<object>): number {
  if (typeof node !== 'object' || node === null) return 1;
  if (seen.has(node)) return 0;
  seen.add(node);
  let size = 1;
  for (const child of childrenOf(node)) size += distinctSize(child, seen);
  return size;
}
