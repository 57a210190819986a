export type RestartPolicy = 'never' | 'on-failure' | 'always';

export interface RestartChoice {
  policy: RestartPolicy;
  /** Logged at start, so an operator can see why Envoy will or will not be restarted. */
  reason: string;
}

/**
 * `auto` leaves restarts to an outer supervisor when there is one: systemd and the kubelet
 * back off and show the crash (supervisors.md §0 item 3); a bare host gets bounded restarts.
 */
export function chooseRestartPolicy(requested: RestartPolicy | 'auto', env: NodeJS.ProcessEnv): RestartChoice {
  if (requested !== 'auto') return { policy: requested, reason: 'set by --envoy-restart' };
  if (env.KUBERNETES_SERVICE_HOST) {
    return { policy: 'never', reason: 'running on Kubernetes (KUBERNETES_SERVICE_HOST is set): the kubelet restarts the container' };
  }
  if (env.NOTIFY_SOCKET || env.INVOCATION_ID) {
    return { policy: 'never', reason: 'running under systemd (NOTIFY_SOCKET or INVOCATION_ID is set): systemd restarts the unit' };
  }
  return { policy: 'on-failure', reason: 'no outer supervisor detected' };
}

export interface EnvoyEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export function isFailure(end: EnvoyEnd): boolean {
  return end.signal !== null || end.code !== 0;
}

export function policyWantsRestart(policy: RestartPolicy, end: EnvoyEnd): boolean {
  if (policy === 'never') return false;
  if (policy === 'always') return true;
  return isFailure(end);
}
