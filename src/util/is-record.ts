/** A JSON/YAML mapping (not null, not a list): the shape every parsed document is checked for. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
