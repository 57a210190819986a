const GO_HTML_ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

/**
 * JSON text as Go's encoding/json writes it: like JSON.stringify, but with `<`, `>`, `&`, U+2028
 * and U+2029 escaped inside strings (Go's default HTML-safe escaping), so bodies compare byte for
 * byte with kuma-dp's. Those characters can only occur inside JSON strings, so escaping the whole
 * serialized text is the same as escaping each string.
 */
export function goJsonStringify(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(/[<>&\u2028\u2029]/g, (c) => GO_HTML_ESCAPES[c]!);
}
