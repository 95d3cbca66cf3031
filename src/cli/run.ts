import { ConfigError, loadConfig, secretValuesOf, type AppConfig } from '../lib/config.js';
import { createLogger, logOutputFor } from '../lib/logger.js';
import { createServices, type Services } from '../lib/services.js';
import { StorageConfigError } from '../plugins/storage/StorageConfigError.js';
import { commands, type CliCommand, type Outcome, type ServiceCommand, type StandaloneCommand } from './commands.js';
import { environmentOf } from './environment.js';
import { ExitCode, exitCodeOf } from './exitCodes.js';
import { scrubbed, type CliIo } from './io.js';
import { describeOptions, parseOptions, shown, type ParsedArguments, type ParsedValues } from './options.js';
import { UsageError } from './usage.js';

export { ExitCode } from './exitCodes.js';
export type { CliIo } from './io.js';

const PROGRAM = 'sapphire-imagine';

/**
 * The `sapphire-imagine` command: parses `argv` (without node and the script), runs one command against the
 * bot's services and returns the exit code. Results go to `io.stdout` (text, or exactly one JSON object with
 * --json); errors, logs and progress go to `io.stderr`. Never throws.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<ExitCode> {
	const json = argv.includes('--json');
	const [name, ...args] = argv;

	if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
		const topic = name === 'help' ? args.find((arg) => !arg.startsWith('-')) : undefined;
		const command = topic === undefined ? undefined : findCommand(topic);
		if (topic !== undefined && !command) return usageFailure(io, json, new UsageError(`Unknown command ${shown(topic)}.`), true);
		// Without any argument the tool was not asked for help: show it, but say the call was incomplete.
		(name === undefined ? io.stderr : io.stdout).write(`${command ? commandHelp(command) : programHelp()}\n`);
		return name === undefined ? ExitCode.Usage : ExitCode.Ok;
	}

	const command = findCommand(name);
	if (!command) return usageFailure(io, json, new UsageError(`Unknown command ${shown(name)}.`), true);

	let values: ParsedValues;
	let positionals: string[];
	try {
		({ values, positionals } = parseOptions(command.options, args, command.takesWords === true));
	} catch (error) {
		if (error instanceof UsageError) return usageFailure(io, json, error, false, command);
		return unexpected(io, json, error);
	}
	if (values.help === true) {
		io.stdout.write(`${commandHelp(command)}\n`);
		return ExitCode.Ok;
	}
	return command.standalone ? runStandalone(command, values, io, json) : runWithServices(command, { values, positionals }, io, json);
}

/** A command that opens what it needs itself (doctor): it gets the environment, even one whose .env is unreadable. */
async function runStandalone(command: StandaloneCommand, values: ParsedValues, io: CliIo, json: boolean): Promise<ExitCode> {
	const work = prepared(command, values, io, json);
	if (typeof work === 'number') return work;
	let environment: NodeJS.ProcessEnv | ConfigError;
	try {
		environment = environmentOf(io);
	} catch (error) {
		if (!(error instanceof ConfigError)) return unexpected(io, json, error);
		environment = error;
	}
	const secrets = secretValuesOf(environment instanceof ConfigError ? io.env : environment);
	const safeIo: CliIo = { ...io, stdout: scrubbed(io.stdout, secrets), stderr: scrubbed(io.stderr, secrets) };
	try {
		return report(safeIo, json, await work({ io: safeIo, environment }));
	} catch (error) {
		return unexpected(safeIo, json, error);
	}
}

async function runWithServices(command: ServiceCommand, parsed: ParsedArguments, io: CliIo, json: boolean): Promise<ExitCode> {
	const work = prepared(command, parsed.values, io, json, parsed.positionals);
	if (typeof work === 'number') return work;

	let config: AppConfig;
	let env: NodeJS.ProcessEnv;
	try {
		env = environmentOf(io);
		config = loadConfig(env);
	} catch (error) {
		if (!(error instanceof ConfigError)) return unexpected(io, json, error);
		return report(io, json, {
			code: ExitCode.Usage,
			json: { ok: false, reason: 'CONFIG', message: error.message, problems: error.problems },
			text: `${PROGRAM} cannot start:\n${error.message}`
		});
	}

	// From here on, nothing printed may carry a secret, whatever an error message says.
	const safeIo: CliIo = { ...io, stdout: scrubbed(io.stdout, config.secrets), stderr: scrubbed(io.stderr, config.secrets) };
	// Logs are for operators and go to stderr only, so stdout holds the result alone. Quiet unless LOG_LEVEL says otherwise;
	// readable on a terminal, JSON lines when stderr is piped or redirected (or as LOG_FORMAT says).
	const logger = createLogger({
		level: env.LOG_LEVEL?.trim() ? config.logLevel : 'warn',
		secrets: config.secrets,
		destination: { write: (line: string) => void safeIo.stderr.write(line) },
		...logOutputFor(config.logFormat, { isTTY: io.isTTY })
	}).child({ source: 'cli', command: command.name });

	let services: Services;
	try {
		services = await createServices(config, { logger });
	} catch (error) {
		if (error instanceof StorageConfigError) {
			return report(safeIo, json, {
				code: ExitCode.Usage,
				json: { ok: false, reason: 'CONFIG', message: error.message },
				text: `${PROGRAM} cannot start:\n${error.message}`
			});
		}
		logger.error({ err: error }, 'Could not open the storage');
		return report(safeIo, json, {
			code: ExitCode.Failure,
			json: { ok: false, reason: 'IO', message: `Could not open the storage at ${config.storage.storageRoot}: ${messageOf(error)}` },
			text: `Could not open the storage at ${config.storage.storageRoot}: ${messageOf(error)}`
		});
	}

	const started = performance.now();
	let outcome: Outcome;
	try {
		outcome = await work({ services, io: safeIo });
	} catch (error) {
		logger.error({ err: error }, 'Command failed');
		outcome = failure(error);
	} finally {
		await services.close().catch((error: unknown) => logger.error({ err: error }, 'Closing the services failed'));
	}
	logger.info({ exitCode: outcome.code, durationMs: Math.round(performance.now() - started) }, 'Command finished');
	return report(safeIo, json, outcome);
}

/** The command's work, or the exit code of a usage mistake found while checking the options (printed already). */
function prepared<Command extends CliCommand>(
	command: Command,
	values: ParsedValues,
	io: CliIo,
	json: boolean,
	positionals: readonly string[] = []
): ReturnType<Command['prepare']> | ExitCode {
	try {
		return command.prepare(values, positionals) as ReturnType<Command['prepare']>;
	} catch (error) {
		if (error instanceof UsageError) return usageFailure(io, json, error, false, command);
		return unexpected(io, json, error);
	}
}

function findCommand(name: string): CliCommand | undefined {
	return commands.find((command) => command.name === name);
}

/** Prints an outcome: with --json one JSON object on stdout (and, for a failure, the message on stderr too). */
function report(io: CliIo, json: boolean, outcome: Outcome): ExitCode {
	if (json) io.stdout.write(`${JSON.stringify(outcome.json)}\n`);
	if (outcome.code === ExitCode.Ok) {
		if (!json && outcome.text) io.stdout.write(`${outcome.text}\n`);
	} else if (outcome.text) io.stderr.write(`${outcome.text}\n`);
	return outcome.code;
}

function usageFailure(io: CliIo, json: boolean, error: UsageError, listCommands: boolean, command?: CliCommand): ExitCode {
	const hint = command
		? `Usage: ${PROGRAM} ${command.synopsis}\nRun \`${PROGRAM} ${command.name} --help\` for its options.`
		: listCommands
			? `Commands: ${commands.map((entry) => entry.name).join(', ')}. Run \`${PROGRAM} --help\`.`
			: '';
	return report(io, json, {
		code: exitCodeOf(error.reason),
		json: { ok: false, reason: error.reason, message: error.message },
		text: `${error.message}\n${hint}`.trimEnd()
	});
}

function failure(error: unknown): Outcome {
	const message = `Unexpected error: ${messageOf(error)}`;
	return { code: ExitCode.Failure, json: { ok: false, reason: 'ERROR', message }, text: message };
}

function unexpected(io: CliIo, json: boolean, error: unknown): ExitCode {
	return report(io, json, failure(error));
}

function messageOf(error: unknown): string {
	return error instanceof Error ? error.message : String(error);
}

/** Help paragraphs wrapped for an 100-column terminal. */
function wrap(paragraph: string, width = 100): string[] {
	const lines: string[] = [];
	let line = '';
	for (const word of paragraph.split(/\s+/)) {
		if (line && line.length + 1 + word.length > width) {
			lines.push(line);
			line = word;
		} else line = line ? `${line} ${word}` : word;
	}
	if (line) lines.push(line);
	return lines;
}

export function programHelp(): string {
	return [
		`Usage: ${PROGRAM} <command> [options]`,
		'',
		"The bot's services without Discord: same configuration (environment and .env), same storage root and ledger.",
		'Safe to run while the bot (and any number of its shards) is running.',
		'',
		'Commands:',
		...commands.flatMap((command) => [`  ${command.synopsis}`, `      ${command.summary}`]),
		'',
		'Options of every command:',
		'  --json      Print exactly one JSON object on stdout (logs and errors go to stderr).',
		'  -h, --help  Show the help of the command.',
		'',
		'Exit codes: 0 success, 1 failure (not found, disk or ledger error, unexpected error),',
		"            2 bad usage or configuration, 3 denied by a quota or an owner's control, 4 image provider failure.",
		'',
		`Run \`${PROGRAM} <command> --help\` for a command's options.`
	].join('\n');
}

export function commandHelp(command: CliCommand): string {
	return [
		`Usage: ${PROGRAM} ${command.synopsis}`,
		'',
		command.summary + '.',
		...command.description.flatMap((paragraph) => ['', ...wrap(paragraph)]),
		'',
		'Options:',
		...describeOptions(command.options)
	].join('\n');
}
