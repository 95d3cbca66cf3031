#!/usr/bin/env node
/**
 * `sapphire-imagine`: the operator's command-line tool (package.json `bin`). Everything lives in ./cli/run.ts;
 * this file only connects it to the process: arguments, streams, signals and the exit code.
 */
import { ExitCode } from './cli/exitCodes.js';
import type * as CliModule from './cli/run.js';

/**
 * pino is an optional peer dependency, so a bot that installs this package for its plugins is not made to
 * install it too; the command needs it. Say how to get it instead of printing a module-resolution stack.
 */
async function loadCli(): Promise<typeof CliModule> {
	try {
		return await import('./cli/run.js');
	} catch (error) {
		const { code, message } = error as NodeJS.ErrnoException;
		if (code !== 'ERR_MODULE_NOT_FOUND' || !message.includes("'pino'")) throw error;
		process.stderr.write('sapphire-imagine: this command logs with pino, which is not installed here. Run: npm install pino@^10\n');
		return process.exit(ExitCode.Usage);
	}
}

const { runCli } = await loadCli();

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
