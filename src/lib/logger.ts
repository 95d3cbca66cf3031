import type { ILogger, LogLevel } from '@sapphire/framework';
import { pino, type DestinationStream, type Level, type LevelWithSilent, type LogFn, type Logger } from 'pino';
import { REDACTED, secretMasker } from '../plugins/shared/maskSecrets.js';
import { formatLogLine } from './prettyLog.js';

/** `json`: one JSON object per line, for files, pipes and log collectors. `pretty`: readable lines for a person at a terminal. */
export const logFormatNames = ['json', 'pretty'] as const;
export type LogFormat = (typeof logFormatNames)[number];

export interface CreateLoggerOptions {
	level: LevelWithSilent;
	/**
	 * Secret values (Discord token, API keys) to blank out wherever they appear in a log line: messages, error
	 * stacks, nested fields. Empty, missing and short values (under 8 characters) are ignored: masking "abc"
	 * everywhere would garble logs and protect nothing.
	 */
	secrets?: Iterable<string | null | undefined>;
	/** Where lines go. Default: stdout, written synchronously so nothing is lost when the process exits. */
	destination?: DestinationStream;
	/** Default `json`. Redaction and masking are the same in both: `pretty` lays out the line they produced. */
	format?: LogFormat;
	/** ANSI colours in `pretty` lines (a terminal); default off. */
	color?: boolean;
}

/**
 * The format and colours for logs written to `stream`: LOG_FORMAT when it is set, otherwise readable lines on a
 * terminal and JSON lines anywhere else (a pipe, a file, a process manager, a container's log collector).
 */
export function logOutputFor(configured: LogFormat | undefined, stream: { isTTY?: boolean }): { format: LogFormat; color: boolean } {
	const terminal = stream.isTTY === true;
	const format = configured ?? (terminal ? 'pretty' : 'json');
	return { format, color: format === 'pretty' && terminal };
}

const minSecretLength = 8;

/** Field paths censored by pino whatever their value. `*` is one level of nesting: `{ config: { discordToken } }`. */
export const redactPaths: readonly string[] = [
	'token',
	'*.token',
	'password',
	'*.password',
	'apiKey',
	'*.apiKey',
	'authorization',
	'*.authorization',
	'headers.authorization',
	'*.headers.authorization',
	'req.headers.authorization',
	'headers["x-api-key"]',
	'*.headers["x-api-key"]',
	'discordToken',
	'*.discordToken',
	'stabilityApiKey',
	'*.stabilityApiKey'
];

/** A JSON logger that never writes the given secrets nor fields named like secrets. */
export function createLogger({ level, secrets = [], destination, format = 'json', color = false }: CreateLoggerOptions): Logger {
	const values = [...secrets].filter((value): value is string => typeof value === 'string' && value.length >= minSecretLength);
	const scrubText = secretMasker(values);
	// In a serialized line a secret may appear JSON-escaped (quotes, backslashes, control characters).
	const scrubLine = secretMasker(values.flatMap((value) => [value, JSON.stringify(value).slice(1, -1)]));

	const sink = destination ?? pino.destination({ dest: 1, sync: true });
	const target = format === 'pretty' ? transformingStream(sink, (line) => formatLogLine(line, { color })) : sink;
	return pino(
		{
			level,
			timestamp: pino.stdTimeFunctions.isoTime,
			redact: { paths: [...redactPaths], censor: REDACTED },
			hooks: {
				// Message strings and printf arguments: `logger.info('login with %s', token)`.
				logMethod(args: Parameters<LogFn>, method: LogFn) {
					const scrubbed = values.length === 0 ? args : args.map((arg: unknown) => (typeof arg === 'string' ? scrubText(arg) : arg));
					method.apply(this, scrubbed as Parameters<LogFn>);
				}
			}
		},
		// Last line of defence for what the hook cannot see: error messages and stacks, strings deep in objects, child bindings.
		values.length === 0 ? target : transformingStream(target, scrubLine)
	);
}

/** A stream that hands each line to `target` changed by `transform` (scrubbed of secrets, or laid out for a person). */
function transformingStream(target: DestinationStream, transform: (line: string) => string): DestinationStream {
	const stream = target as DestinationStream & { flush?: (cb?: (error?: Error) => void) => void; flushSync?: () => void };
	return {
		write: (line: string) => stream.write(transform(line)),
		// pino's logger.flush() and exit handling look for these.
		...(typeof stream.flush === 'function' ? { flush: stream.flush.bind(stream) } : {}),
		...(typeof stream.flushSync === 'function' ? { flushSync: stream.flushSync.bind(stream) } : {})
	} as DestinationStream;
}

/**
 * Sapphire's logger interface on top of pino, so the framework's messages and ours share one stream and one format.
 * Sapphire calls `logger.error('Encountered error on ...', error)`: strings become `msg`, an Error becomes `err`
 * (pino's serializer keeps type, message and stack), anything else goes to `details`.
 * Sapphire's numeric levels equal pino's (trace 10 ... fatal 60); `LogLevel.None` (100, "uncategorized") is logged at info.
 */
export class PinoSapphireLogger implements ILogger {
	public readonly pino: Logger;

	public constructor(logger: Logger) {
		this.pino = logger.child({ source: 'sapphire' });
	}

	public has(level: LogLevel): boolean {
		return this.pino.isLevelEnabled(pinoLevelOf(level));
	}

	public trace(...values: readonly unknown[]): void {
		this.log('trace', values);
	}

	public debug(...values: readonly unknown[]): void {
		this.log('debug', values);
	}

	public info(...values: readonly unknown[]): void {
		this.log('info', values);
	}

	public warn(...values: readonly unknown[]): void {
		this.log('warn', values);
	}

	public error(...values: readonly unknown[]): void {
		this.log('error', values);
	}

	public fatal(...values: readonly unknown[]): void {
		this.log('fatal', values);
	}

	public write(level: LogLevel, ...values: readonly unknown[]): void {
		this.log(pinoLevelOf(level), values);
	}

	private log(level: Level, values: readonly unknown[]): void {
		if (!this.pino.isLevelEnabled(level)) return;
		const words: string[] = [];
		const errors: Error[] = [];
		const details: unknown[] = [];
		for (const value of values) {
			if (value instanceof Error) errors.push(value);
			else if (value !== null && typeof value === 'object') details.push(value);
			else words.push(String(value));
		}
		const fields: Record<string, unknown> = {};
		if (errors.length > 0) fields.err = errors[0];
		if (errors.length > 1) fields.errors = errors.slice(1);
		if (details.length > 0) fields.details = details.length === 1 ? details[0] : details;
		// A lone error still gets a message, so the line reads well in pino-pretty and log search.
		const message = words.length > 0 ? words.join(' ') : (errors[0]?.message ?? '');
		this.pino[level](fields, message);
	}
}

function pinoLevelOf(level: number): Level {
	if (level >= 100) return 'info';
	if (level >= 60) return 'fatal';
	if (level >= 50) return 'error';
	if (level >= 40) return 'warn';
	if (level >= 30) return 'info';
	if (level >= 20) return 'debug';
	return 'trace';
}
