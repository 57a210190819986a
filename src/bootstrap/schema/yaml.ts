import { parseDocument } from 'yaml';

/** YAML text → plain JS value, or one line "line L, column C: reason" for the first syntax error. */
export function parseYaml(text: string): { value: unknown } | { error: string } {
  const doc = parseDocument(text, { uniqueKeys: true });
  const error = doc.errors[0];
  if (!error) return { value: doc.toJS() };
  const position = error.linePos?.[0];
  const reason = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  return { error: position ? `line ${position.line}, column ${position.col}: ${reason}` : reason };
}
