#!/usr/bin/env node
/**
 * `sapphire-imagine`: the operator's command-line tool (package.json `bin`). Everything lives in ./cli/run.ts;
 * this file only connects it to the process: arguments, streams, signals and the exit code.
 */
import { runCli } from './cli/run.js';

const controller = new AbortController();
let signals = 0;
const onSignal = (signal: NodeJS.Signals) => {
	// The first Ctrl+C cancels a running generation (its quota is refunded) and lets the command finish cleanly.
	if (++signals > 1) process.exit(130);
	controller.abort(new Error(`received ${signal}`));
	process.stderr.write(`\n${signal}: stopping (again to quit at once)\n`);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// `sapphire-imagine report | head`: a closed pipe is not an error worth a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
	if (error.code !== 'EPIPE') throw error;
});

const code = await runCli(process.argv.slice(2), {
	stdout: process.stdout,
	stderr: process.stderr,
	env: process.env,
	cwd: process.cwd(),
	isTTY: process.stderr.isTTY === true,
	signal: controller.signal
});
process.exitCode = code;
// Everything is closed by now; should a handle still hold the event loop, do not hang a cron job over it.
setTimeout(() => process.exit(code), 5000).unref();
