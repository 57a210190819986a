/** Plain numbered narration on stdout; colour only where chalk finds a terminal that wants it. */
import chalk from 'chalk';

export class Narrator {
  private step = 0;

  constructor(private readonly write: (text: string) => void = (text) => process.stdout.write(text)) {}

  title(text: string): void {
    this.write(`${chalk.bold(text)}\n`);
  }

  /** Starts the next numbered step. */
  say(text: string): void {
    this.step++;
    this.write(`${chalk.bold(`${String(this.step).padStart(2)}.`)} ${text}\n`);
  }

  /** A detail of the current step, indented under it. */
  detail(text: string): void {
    this.write(`    ${text}\n`);
  }

  dim(text: string): void {
    this.write(`    ${chalk.dim(text)}\n`);
  }

  fail(text: string): void {
    this.write(`${chalk.red.bold('FAILED')} ${text}\n`);
  }
}
