/**
 * Human-readable log lines for a terminal, made from the JSON lines pino writes:
 *
 *   14:03:07.412 INFO  Ready as Imagine#0001: provider preview (offline placeholders); ...
 *   14:03:09.001 WARN  storage: Storage ledger corrected from disk  added=1 removed=0
 *   14:03:11.250 ERROR Command failed
 *       Error: SQLITE_BUSY: database is locked
 *           at ...
 *
 * It formats the line after the logger has redacted and scrubbed it, so what reaches a terminal is exactly
 * what would have reached a log file, only laid out for a person. pino-pretty does the same job with a dozen
 * dependencies (a CLI, a config-file loader, its own stream library); this file is all this bot needs.
 */

export interface PrettyOptions {
	/** ANSI colours: on for a terminal, off for a pipe or a file. */
	color: boolean;
}

const LEVELS: Record<number, { label: string; color: string }> = {
	10: { label: 'TRACE', color: '90' },
	20: { label: 'DEBUG', color: '36' },
	30: { label: 'INFO ', color: '32' },
	40: { label: 'WARN ', color: '33' },
	50: { label: 'ERROR', color: '31' },
	60: { label: 'FATAL', color: '1;31' }
};

/** pino's own fields and Sapphire's default source: shown in the line's layout, or not worth a column. */
const LAYOUT_FIELDS = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'source']);
const DEFAULT_SOURCE = 'sapphire';
const INFO = 30;
/**
 * Where Sapphire's logger puts the objects logged beside a message. At info level the message is the sentence a
 * person reads ("Ready as ...: provider ..., limits ...") and `details` its copy for machines, in the JSON format;
 * on a warning or an error it is context worth seeing.
 */
const DETAILS = 'details';

/** One pino JSON line (newline included) as one or more readable lines. A line that is not JSON passes through as it is. */
export function formatLogLine(line: string, { color }: PrettyOptions): string {
	let entry: Record<string, unknown>;
	try {
		const parsed = JSON.parse(line) as unknown;
		if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return line;
		entry = parsed as Record<string, unknown>;
	} catch {
		return line;
	}
	const paint = (code: string, text: string) => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
	const level = LEVELS[Number(entry.level)] ?? { label: String(entry.level).padEnd(5).slice(0, 5), color: '0' };
	const source = typeof entry.source === 'string' && entry.source !== DEFAULT_SOURCE ? `${entry.source}: ` : '';
	const message = typeof entry.msg === 'string' ? visible(entry.msg) : '';

	const fields: string[] = [];
	const stacks: string[] = [];
	for (const [key, value] of Object.entries(entry)) {
		if (LAYOUT_FIELDS.has(key) || value === undefined || (key === DETAILS && Number(entry.level) <= INFO)) continue;
		const errors = errorsIn(value);
		if (errors.length > 0) {
			stacks.push(...errors);
			continue;
		}
		fields.push(`${key}=${fieldText(value)}`);
	}

	const head = [paint('2', clockOf(entry.time)), paint(level.color, level.label), `${source}${message}`].join(' ');
	const tail = fields.length > 0 ? `  ${paint('2', fields.join(' '))}` : '';
	const body = stacks.map((stack) => `\n${indent(withoutControls(stack))}`).join('');
	return `${head}${tail}${body}\n`;
}

function clockOf(time: unknown): string {
	const date = typeof time === 'string' || typeof time === 'number' ? new Date(time) : new Date(Number.NaN);
	if (Number.isNaN(date.getTime())) return '--:--:--.---';
	const two = (value: number) => String(value).padStart(2, '0');
	return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

/** Serialized errors (pino's `{ type, message, stack }`), alone or in a list: shown as their stacks, below the line. */
function errorsIn(value: unknown): string[] {
	const list = Array.isArray(value) ? value : [value];
	if (list.length === 0 || !list.every(isSerializedError)) return [];
	return list.map((error) => (typeof error.stack === 'string' && error.stack !== '' ? error.stack : `${error.type}: ${error.message}`));
}

function isSerializedError(value: unknown): value is { type: string; message: string; stack?: unknown } {
	if (value === null || typeof value !== 'object') return false;
	const record = value as Record<string, unknown>;
	return typeof record.type === 'string' && typeof record.message === 'string';
}

function fieldText(value: unknown): string {
	if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? visible(value) : JSON.stringify(value);
	return JSON.stringify(value) ?? String(value);
}

/**
 * A message may carry text from Discord (a server name, a prompt): a line break in it continues indented, so it
 * cannot pass for a log line of its own, and other control characters are shown escaped, so none can repaint
 * the terminal.
 */
function visible(text: string): string {
	return withoutControls(text).replace(/\n/g, '\n    ');
}

function withoutControls(text: string): string {
	return (
		text
			.replace(/\r\n/g, '\n')
			// eslint-disable-next-line no-control-regex
			.replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)
	);
}

function indent(text: string): string {
	return text
		.split('\n')
		.map((line) => `    ${line}`)
		.join('\n');
}
