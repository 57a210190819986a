/** Characters of an unexpanded Kubernetes `$(VAR)` / shell `${VAR}` reference left in a name. */
const UNEXPANDED = /[$(){}]/;

/**
 * kuma-dp's Kubernetes rule: a name that is empty or still carries an unexpanded variable
 * reference becomes `POD_NAME.POD_NAMESPACE` when both are set; otherwise the name stays as given.
 */
export function effectiveName(name: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const given = name ?? '';
  const podName = env.POD_NAME ?? '';
  const podNamespace = env.POD_NAMESPACE ?? '';
  if ((given === '' || UNEXPANDED.test(given)) && podName !== '' && podNamespace !== '') {
    return `${podName}.${podNamespace}`;
  }
  return given;
}
