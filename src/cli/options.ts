import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isImageId, isSnowflake } from '../plugins/storage/ids.js';
import { truncate } from '../plugins/shared/truncate.js';
import { UsageError } from './usage.js';

/** One option of a command: what parseArgs needs, plus what --help prints. */
export interface OptionSpec {
	type: 'string' | 'boolean';
	short?: string;
	/** Shown after the flag in --help: `--user ID`. */
	valueName?: string;
	description: string;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** Options every command takes. */
export const commonOptions: OptionSpecs = {
	json: { type: 'boolean', description: 'Print exactly one JSON object on stdout (logs and errors go to stderr).' },
	help: { type: 'boolean', short: 'h', description: 'Show this help.' }
};

export type ParsedValues = Record<string, string | boolean | undefined>;

export interface ParsedArguments {
	values: ParsedValues;
	/** The words that are not options (`blocklist add WORD...`); always empty for a command that takes none. */
	positionals: string[];
}

/**
 * Strict parsing: unknown options, a missing value and (unless the command takes them) positionals are usage errors
 * (exit 2), never guesses.
 */
export function parseOptions(specs: OptionSpecs, args: readonly string[], allowPositionals = false): ParsedArguments {
	const options: NonNullable<ParseArgsConfig['options']> = {};
	for (const [name, spec] of Object.entries<OptionSpec>({ ...specs, ...commonOptions })) {
		options[name] = spec.short ? { type: spec.type, short: spec.short } : { type: spec.type };
	}
	try {
		const parsed = parseArgs({ args: [...args], options, strict: true, allowPositionals });
		return { values: parsed.values as ParsedValues, positionals: parsed.positionals };
	} catch (error) {
		// parseArgs' messages name the option and say what is wrong; they are written for a shell user already.
		throw new UsageError((error as Error).message);
	}
}

/** The help lines for a set of options, aligned. */
export function describeOptions(specs: OptionSpecs): string[] {
	const rows = Object.entries<OptionSpec>({ ...specs, ...commonOptions }).map(([name, spec]) => {
		const flag = `${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.valueName ? ` ${spec.valueName}` : ''}`;
		return [flag, spec.description] as const;
	});
	const width = Math.max(...rows.map(([flag]) => flag.length));
	return rows.map(([flag, description]) => `  ${flag.padEnd(width)}  ${description}`);
}

/** A value as it may be echoed back: quoted and escaped (NUL, newlines and escapes stay visible and harmless). */
export function shown(value: string): string {
	return JSON.stringify(truncate(value, 80));
}

export function requiredString(values: ParsedValues, name: string, valueName = 'VALUE'): string {
	const value = values[name];
	if (typeof value !== 'string') throw new UsageError(`Missing --${name} ${valueName}.`);
	return value;
}

export function optionalString(values: ParsedValues, name: string): string | undefined {
	const value = values[name];
	return typeof value === 'string' ? value : undefined;
}

/** A Discord user id: the storage turns nothing else into a folder name, and neither does the CLI. */
export function userIdOption(values: ParsedValues, name = 'user'): string {
	const value = requiredString(values, name, 'ID');
	if (!isSnowflake(value))
		throw new UsageError(`--${name}: expected a Discord user id (17 to 20 digits), got ${shown(value)}.`, 'INVALID_NAME');
	return value;
}

/** A Discord server (or, `what`, channel) id, when the option is given; null when it is not. */
export function guildIdOption(values: ParsedValues, name = 'guild', what = 'server'): string | null {
	const value = optionalString(values, name);
	if (value === undefined) return null;
	if (!isSnowflake(value))
		throw new UsageError(`--${name}: expected a Discord ${what} id (17 to 20 digits), got ${shown(value)}.`, 'INVALID_NAME');
	return value;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

/**
 * A moment written in ISO 8601: a day (`2026-12-24`, its 00:00 UTC) or a time with its zone (`2026-12-24T18:00Z`,
 * `2026-12-24T18:00+01:00`). A time without a zone is refused: the machine's zone is not necessarily the one meant.
 */
export function isoTimeOption(values: ParsedValues, name: string): Date | undefined {
	const value = optionalString(values, name);
	if (value === undefined) return undefined;
	const time = ISO_TIME.test(value.trim()) ? new Date(value.trim()) : null;
	if (!time || Number.isNaN(time.getTime())) {
		throw new UsageError(
			`--${name}: expected an ISO 8601 day or time with its zone, e.g. 2026-12-24 or 2026-12-24T18:00Z, got ${shown(value)}.`
		);
	}
	return time;
}

/** An image id as `images` lists it: 16 lower-case letters and digits, nothing a path could be made of. */
export function imageIdOption(values: ParsedValues, name = 'image'): string {
	const value = requiredString(values, name, 'IMAGE_ID');
	if (!isImageId(value)) {
		throw new UsageError(
			`--${name}: expected an image id (16 lower-case letters and digits, as \`images\` lists them), got ${shown(value)}.`,
			'INVALID_NAME'
		);
	}
	return value;
}

/** Role ids, comma-separated: they pick the user's role tier, as the member's roles do in Discord. */
export function roleIdsOption(values: ParsedValues, name = 'roles'): string[] {
	const value = optionalString(values, name);
	if (value === undefined) return [];
	const ids = value
		.split(',')
		.map((id) => id.trim())
		.filter((id) => id !== '');
	const bad = ids.find((id) => !isSnowflake(id));
	if (bad !== undefined) throw new UsageError(`--${name}: expected comma-separated Discord role ids, got ${shown(bad)}.`);
	return ids;
}

/** A whole number within bounds, written plainly (no sign, exponent, hex or decimals). */
export function wholeNumberOption(values: ParsedValues, name: string, min: number, max: number): number | undefined {
	const value = optionalString(values, name);
	if (value === undefined) return undefined;
	const number = /^\d{1,16}$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
	if (!Number.isSafeInteger(number) || number < min || number > max) {
		throw new UsageError(`--${name}: expected a whole number from ${min} to ${max}, got ${shown(value)}.`);
	}
	return number;
}

/** A number of megabytes above 0, written plainly (`500`, `1.5`). */
export function megabytesOption(values: ParsedValues, name: string): number | undefined {
	const value = optionalString(values, name);
	if (value === undefined) return undefined;
	const trimmed = value.trim();
	const number = /^(?:\d+(?:\.\d+)?|\.\d+)$/.test(trimmed) ? Number(trimmed) : Number.NaN;
	if (!Number.isFinite(number) || number <= 0)
		throw new UsageError(`--${name}: expected a number of megabytes above 0, got ${shown(value)}.`);
	return number;
}
