/** The signals kuma-dp handles itself (DESIGN §6); SIGUSR1/2's default action would kill us. */
export const HANDLED_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGUSR1', 'SIGUSR2', 'SIGHUP'];

export type SignalHandler = (signal: NodeJS.Signals) => void;

/**
 * One set of process handlers for the whole run, routed to whichever phase is current
 * (start-up: cancel the bootstrap retries or an install; then the supervisor).
 */
export class SignalRouter {
  private handler: SignalHandler = () => {};
  private readonly listener = (signal: NodeJS.Signals) => this.handler(signal);

  install(): this {
    for (const signal of HANDLED_SIGNALS) process.on(signal, this.listener);
    return this;
  }

  route(handler: SignalHandler): void {
    this.handler = handler;
  }

  uninstall(): void {
    for (const signal of HANDLED_SIGNALS) process.removeListener(signal, this.listener);
  }
}
