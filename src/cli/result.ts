export interface CommandResult {
  exitCode: number;
  /** One line for stderr before a non-zero exit. */
  message?: string;
  /** Exit at once, without waiting for anything else. */
  forced?: boolean;
}
