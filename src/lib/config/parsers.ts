import { resolve } from 'node:path';
import { z } from 'zod';
import { extraHeaderProblems } from '../../plugins/generation/http/extraHeaders.js';
import { loadWorkflowFolder, WorkflowError } from '../../plugins/generation/providers/comfyui/workflows.js';
import { snowflakeSchema } from '../../plugins/storage/options.js';
import { checkEntry } from '../../plugins/storage/controls/promptBlocklist.js';

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

/** `true` or `false`, case-insensitive. */
export function booleanWord(message: string) {
	return oneOf(['true', 'false'], message).transform((word) => word === 'true');
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

/** A JSON object of extra headers. Unlike `jsonOf`, a parse error does not quote the text: it holds a proxy's secret. */
export const extraHeadersJson = z.string().transform((raw, ctx) => {
	let parsed: unknown;
	try {
		parsed = JSON.parse(raw);
	} catch {
		ctx.addIssue({ code: 'custom', message: 'expected JSON like {"X-Proxy-Token":"..."}, but it does not parse' });
		return z.NEVER;
	}
	const problems = extraHeaderProblems(parsed);
	for (const message of problems) ctx.addIssue({ code: 'custom', message });
	return problems.length > 0 ? z.NEVER : (parsed as Record<string, string>);
});

/**
 * A folder of ComfyUI workflows, read and checked now (the folder, each file's JSON, format and placeholders), so
 * a broken one stops start-up with the file and the reason; the generation plugin reads the same files when it
 * starts. The value is the folder's absolute path.
 */
export const workflowFolder = z
	.string()
	.trim()
	.transform((raw, ctx) => {
		try {
			loadWorkflowFolder(raw);
			return resolve(raw);
		} catch (error) {
			if (!(error instanceof WorkflowError)) throw error;
			ctx.addIssue({ code: 'custom', message: `expected a folder of ComfyUI workflows (API format), but ${error.message}` });
			return z.NEVER;
		}
	});

/** The password of a URL with credentials (http://user:password@host), to keep it out of logs; undefined without one. */
export function passwordIn(url: string): string | undefined {
	try {
		return decodeURIComponent(new URL(url).password) || undefined;
	} catch {
		return undefined;
	}
}

/** PROMPT_BLOCKLIST: comma-separated entries, each checked as the CLI checks one (a bad pattern is named). */
export const blocklistWords = z.string().transform((raw, ctx) => {
	const entries: string[] = [];
	for (const part of raw.split(',')) {
		if (part.trim() === '') continue;
		const checked = checkEntry(part, true);
		if (!checked.ok) {
			ctx.addIssue({ code: 'custom', message: `expected comma-separated words or /patterns/: ${checked.problem}` });
			return z.NEVER;
		}
		entries.push(checked.entry);
	}
	return entries;
});
