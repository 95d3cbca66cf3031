import { z } from 'zod';
import { snowflakeSchema } from '../../plugins/storage/options.js';

/**
 * Parsers from an environment variable's text to a typed value. Each one states in its message what it
 * expects, which is what the user sees next to the variable's name when a value is wrong.
 */

// Strict number syntax: `12abc`, `-5`, `1e3`, `NaN`, `Infinity` and `0x10` are all rejected rather than half-parsed.
const decimalPattern = /^(?:\d+(?:\.\d+)?|\.\d+)$/;
const wholePattern = /^\d+$/;

/** A number above 0 (decimals allowed), at most `max` when given. */
export function positiveNumber(message: string, max = Number.MAX_VALUE) {
	return z
		.string()
		.trim()
		.refine((raw) => decimalPattern.test(raw) && Number.isFinite(Number(raw)) && Number(raw) > 0 && Number(raw) <= max, message)
		.transform(Number);
}

/** A whole number from `min` to `max`. */
export function wholeNumber(message: string, min = 0, max = Number.MAX_SAFE_INTEGER) {
	return z
		.string()
		.trim()
		.refine((raw) => wholePattern.test(raw) && Number.isSafeInteger(Number(raw)) && Number(raw) >= min && Number(raw) <= max, message)
		.transform(Number);
}

/** One of a fixed list, case-insensitive. */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T, message: string) {
	return z
		.string()
		.trim()
		.toLowerCase()
		.pipe(z.enum(values, { error: message }));
}

/** An http(s) URL, without a trailing slash; `example` is what the error message suggests. */
export function httpUrl(example: string) {
	return z
		.string()
		.trim()
		.refine((raw) => {
			try {
				const url = new URL(raw);
				return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
			} catch {
				return false;
			}
		}, `expected an http(s) URL such as ${example}`)
		.transform((raw) => raw.replace(/\/+$/, ''));
}

/** A secret pasted with a space inside (often a "Bot " prefix or a line break) would fail later with a confusing 401. */
export function secret(message: string) {
	return z
		.string()
		.trim()
		.refine((raw) => !/\s/.test(raw), message);
}

/** Comma-separated Discord ids; empty entries are skipped, duplicates dropped. */
export const snowflakeList = z.string().transform((raw, ctx) => {
	const ids = raw
		.split(',')
		.map((entry) => entry.trim())
		.filter((entry) => entry !== '');
	const bad = ids.filter((id) => !snowflakeSchema.safeParse(id).success);
	if (bad.length > 0) {
		ctx.addIssue({
			code: 'custom',
			message: `expected comma-separated Discord ids (17 to 20 digits each); not an id: ${bad.map((id) => JSON.stringify(id)).join(', ')}`
		});
		return z.NEVER;
	}
	return [...new Set(ids)];
});

/** JSON text checked against `schema`; a parse error names the example to follow. */
export function jsonOf<T extends z.ZodType>(schema: T, example: string) {
	return z
		.string()
		.transform((raw, ctx) => {
			try {
				return JSON.parse(raw) as unknown;
			} catch (error) {
				ctx.addIssue({
					code: 'custom',
					message: `expected JSON like ${example}, but it does not parse (${(error as Error).message})`
				});
				return z.NEVER;
			}
		})
		.pipe(schema);
}
