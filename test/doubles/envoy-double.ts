/**
 * A stand-in Envoy executable for tests (run as `node dist/test/doubles/envoy-double.js`, usually via
 * the wrapper script from envoy-binary.ts). It follows the contract in
 * shared/reference/envoy-contract.md sections C and D: TCLAP-style argv, `--version` banner, bad-config
 * output and exit codes, the admin API (TCP or unix pipe), signals and Envoy-format log lines.
 *
 * Behaviour knobs, all optional, read from the environment:
 *   ENVOY_DOUBLE_VERSION=1.34.1            release in `--version` and /server_info
 *   ENVOY_DOUBLE_VERSION_FAIL=<text>       `--version` prints <text> on stderr and exits 1 (a binary that cannot run here)
 *   ENVOY_DOUBLE_VERSION_GATE=<file>       `--version` answers only once this file exists (checked every 10 ms, 30 s at most)
 *   ENVOY_DOUBLE_LIVE_DELAY_MS=50          admin bound -> LIVE (INITIALIZING from half of it); `never` stays INITIALIZING
 *   ENVOY_DOUBLE_CONNECTIONS=a=3,b=0       simulated listener.<a>.downstream_cx_active gauges (`listener.` prefix optional);
 *                                          the bootstrap's static listeners start at 0
 *   ENVOY_DOUBLE_CONNECTIONS_DRAIN_AFTER_MS=<ms>  all simulated gauges drop to 0 this long after the first
 *                                          POST /healthcheck/fail or /drain_listeners
 *   ENVOY_DOUBLE_EXIT_AFTER_MS=<ms>        exit on its own, this long after the admin API is bound
 *   ENVOY_DOUBLE_EXIT_CODE=1               the code for that exit
 *   ENVOY_DOUBLE_CRASH_AFTER_MS=<ms>       print Envoy's backtrace banner, then kill itself with a signal
 *   ENVOY_DOUBLE_CRASH_SIGNAL=SIGSEGV      that signal
 *   ENVOY_DOUBLE_CONFIG_ERROR=<reason>     bad-config triple with <reason> on stderr, exit 1, at once
 *   ENVOY_DOUBLE_IGNORE_SIGTERM=1          SIGTERM/SIGINT are logged but ignored (SIGKILL needed); /quitquitquit still works
 *   ENVOY_DOUBLE_FLOOD_LINES=<n>           after the admin API is bound, write n lines `flood <9-digit seq from 1> xxx…`
 *   ENVOY_DOUBLE_FLOOD_BYTES=120           length of each flood line including its newline (minimum 17)
 *   ENVOY_DOUBLE_FLOOD_STREAM=stderr       stdout|stderr, for the flood and the long line
 *   ENVOY_DOUBLE_LONG_LINE_BYTES=<n>       then one line `long-line yyy…` of exactly n bytes including its newline
 *   ENVOY_DOUBLE_STDOUT_LINES=<n|text>     at start: n lines `stdout line <i>`, or the text itself (`\n` escapes allowed)
 *   ENVOY_DOUBLE_RECORD=<file>             append JSON-line events (see envoy-record.ts)
 *   ENVOY_DOUBLE_PID_FILE=<file>           write the pid at start
 *   ENVOY_DOUBLE_ADS=1                     with dynamic_resources.ads_config, call connectAds from ./ads-client.js
 *   ENVOY_DOUBLE_STATE_DIR=<dir>           number the starts (1, 2, … in <dir>/starts; `--version` and argv errors do not
 *                                          count). Then every knob above except VERSION, RECORD, PID_FILE and STATE_DIR
 *                                          itself may be given per start as
 *                                          ENVOY_DOUBLE_<KNOB>_<N>, e.g. ENVOY_DOUBLE_EXIT_CODE_1=3, which overrides the
 *                                          plain knob on start N only; an empty per-start value unsets it for that start.
 *
 * Test-only admin endpoint: POST /double/connections?name=<listener>&value=<n> sets a simulated gauge.
 */
import { parseArgv } from './envoy-double/argv.js';
import { appendRecord } from './envoy-record.js';

// Only the argv parser is loaded up front: `--version` runs on every kuma-dp bootstrap attempt.
const version = process.env.ENVOY_DOUBLE_VERSION || '1.34.1';
const build = `b5ca88acee3453c9459474b8f22215796eff4dde/${version}/Clean/RELEASE/BoringSSL`;
const parsed = parseArgv(process.argv.slice(2), build);
if ('exit' in parsed) {
  const gate = process.env.ENVOY_DOUBLE_VERSION_GATE;
  if (gate && process.argv.includes('--version')) {
    const { existsSync } = await import('node:fs');
    const deadline = Date.now() + 30_000;
    while (!existsSync(gate) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const failure = process.argv.includes('--version') ? process.env.ENVOY_DOUBLE_VERSION_FAIL : undefined;
  if (failure) parsed.exit = { code: 1, stdout: '', stderr: `${failure}\n` };
  const file = process.env.ENVOY_DOUBLE_RECORD;
  if (file) appendRecord(file, { event: 'early-exit', argv: process.argv.slice(2), code: parsed.exit.code });
  if (parsed.exit.stdout) process.stdout.write(parsed.exit.stdout);
  if (parsed.exit.stderr) process.stderr.write(parsed.exit.stderr);
  process.exitCode = parsed.exit.code;
} else {
  const { serve, internalError } = await import('./envoy-double/serve.js');
  await serve(parsed.options, version, build).catch(internalError);
}
