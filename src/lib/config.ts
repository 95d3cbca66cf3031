import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { z } from 'zod';
import { generationOptionsSchema, type GenerationOptions } from '../plugins/generation/options.js';
import { describeIssues, storageOptionsSchema, withoutPassword, type StorageOptions } from '../plugins/storage/options.js';
import { configVariables, variableOfOption, type ConfigDraft, type ConfigVariable, type LogLevelName } from './config/variables.js';
import type { LogFormat } from './logger.js';
import { truncate } from '../plugins/shared/truncate.js';

export { configVariableNames, configVariables, logLevelNames, type LogLevelName } from './config/variables.js';

/** Everything the bot reads from its environment, validated and typed. */
export interface AppConfig {
	/** Options for the storage plugin (`new SapphireClient({ storage: config.storage })`); `storageRoot` is absolute and writable. */
	storage: StorageOptions;
	/** Bot owners (OWNER_IDS), also in `storage.ownerIds`. */
	ownerIds: string[];
	discordToken?: string;
	stabilityApiKey?: string;
	/** Base URL of the image API (API_HOST), without a trailing slash; unset means the provider's own default. */
	apiHost?: string;
	/**
	 * For tests only (DISCORD_API_URL): where discord.js sends REST calls instead of https://discord.com/api, such as a
	 * Discord stand-in on loopback; the gateway URL then comes from that server too. The bot token goes there.
	 */
	discordApiUrl?: string;
	/** Options for the generation plugin (`new SapphireClient({ generation: config.generation })`). */
	generation: GenerationOptions;
	/** Secret values to mask in logs wherever they appear. */
	secrets: string[];
	logLevel: LogLevelName;
	/** LOG_FORMAT; unset means "readable on a terminal, JSON lines otherwise" (see logOutputFor). */
	logFormat?: LogFormat;
	/** COMMAND_GUILD_IDS: servers to register the slash commands in at once (development); empty means globally. */
	commandGuildIds: string[];
}

/** A configuration problem a user must fix. `problems` holds one line per bad variable, as printed in the message. */
export class ConfigError extends Error {
	public override readonly name = 'ConfigError';
	public readonly problems: readonly string[];

	public constructor(message: string, problems: readonly string[] = []) {
		super(message);
		this.problems = problems;
	}

	/** One error listing every problem, so a user fixes them all in one round. */
	public static fromProblems(problems: readonly string[]): ConfigError {
		return new ConfigError(`Invalid configuration (environment variables or .env):\n${problems.join('\n')}`, problems);
	}
}

/**
 * Reads and validates the bot's configuration from the variables in `configVariables`. Empty variables count as
 * unset: the plugin's own default applies. Creates STORAGE_ROOT if needed. Throws one {@link ConfigError}
 * listing every bad variable.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
	const problems: string[] = [];
	const values: Record<string, unknown> = {};
	for (const row of configVariables) {
		const raw = env[row.name];
		if (raw === undefined || raw.trim() === '') continue;
		const parsed = row.parse.safeParse(raw);
		if (parsed.success) values[row.name] = parsed.data;
		else problems.push(...parsed.error.issues.map((issue) => describeEnvIssue(row, issue, raw)));
	}

	// STORAGE_ROOT is checked on disk even when other variables are wrong, so one run reports everything.
	let storageRoot = '';
	try {
		storageRoot = assertWritableDirectory('STORAGE_ROOT', (values.STORAGE_ROOT as string | undefined) ?? 'shared');
	} catch (error) {
		if (!(error instanceof ConfigError)) throw error;
		problems.push(...error.problems);
	}
	if (problems.length > 0) throw ConfigError.fromProblems(problems);

	const draft = emptyDraft();
	for (const row of configVariables) {
		if (!(row.name in values)) continue;
		const value = values[row.name];
		if (row.apply) row.apply(draft, value, values);
		if (row.option) setOption(draft, row.option, value);
	}
	draft.storage.storageRoot = storageRoot;

	// The plugins' schemas are the source of truth for their limits: if one is stricter than a variable's parser,
	// say so now, under the variable's name, rather than when the client starts.
	for (const [prefix, schema, options] of [
		['storage', storageOptionsSchema, draft.storage],
		['generation', generationOptionsSchema, draft.generation]
	] as const) {
		const checked = schema.safeParse(options);
		if (!checked.success) {
			const nameOf = (path: PropertyKey[]) => {
				const row = variableOfOption([prefix, ...path].join('.'));
				return row
					? row.name +
							path
								.slice(row.option!.split('.').length - 1)
								.map((key) => `[${String(key)}]`)
								.join('')
					: path.join('.');
			};
			problems.push(...describeIssues(checked.error, options, nameOf).split('\n'));
		}
	}
	if (problems.length > 0) throw ConfigError.fromProblems(problems);

	const { secrets, ...config } = draft;
	return { ...config, secrets: [...new Set(secrets.filter((value) => value.length > 0))] };
}

function emptyDraft(): ConfigDraft {
	return {
		storage: {},
		generation: { stability: {}, automatic1111: {}, comfyui: {}, openai: {}, http: {} },
		ownerIds: [],
		logLevel: 'info',
		commandGuildIds: [],
		secrets: []
	};
}

/**
 * The secret values an environment holds, to mask wherever they might appear (the token, the API key, the
 * AUTOMATIC1111 credentials and their password alone), even when the configuration does not load: a value that
 * fails its check is masked as it is.
 */
export function secretValuesOf(env: NodeJS.ProcessEnv): string[] {
	const draft = emptyDraft();
	for (const row of configVariables) {
		const raw = env[row.name]?.trim();
		if (!row.secret || !raw) continue;
		draft.secrets.push(raw);
		const parsed = row.parse.safeParse(raw);
		if (parsed.success) row.apply?.(draft, parsed.data, {});
	}
	return [...new Set(draft.secrets.filter((value) => value.length > 0))];
}

/** Sets `storage.ownerLimits.dailyGens`-style paths, creating the objects on the way. */
function setOption(draft: ConfigDraft, path: string, value: unknown): void {
	const keys = path.split('.');
	let target = draft as unknown as Record<string, unknown>;
	for (const key of keys.slice(0, -1)) target = (target[key] ??= {}) as Record<string, unknown>;
	target[keys.at(-1) as string] = value;
}

/**
 * Creates `path` (like mkdir -p) and checks the process can write into it.
 * Returns the absolute path; throws a {@link ConfigError} naming the variable, the resolved path and the OS reason.
 */
export function assertWritableDirectory(name: string, path: string): string {
	const absolute = resolve(path);
	try {
		mkdirSync(absolute, { recursive: true });
		accessSync(absolute, constants.W_OK);
		return absolute;
	} catch (error) {
		const code = (error as NodeJS.ErrnoException).code;
		const reason = code === 'EEXIST' ? `${code}: it exists and is not a directory` : (error as Error).message;
		const problem = `- ${name}: expected a directory the bot can create and write to, but ${absolute} cannot be used (${reason}) (got ${quote(path)})`;
		throw ConfigError.fromProblems([problem]);
	}
}

/** The Discord token, or a ConfigError telling the user where to put it. */
export function requireDiscordToken(config: AppConfig): string {
	if (config.discordToken) return config.discordToken;
	throw new ConfigError(
		'DISCORD_TOKEN is not set: copy .env.example to .env and set DISCORD_TOKEN to your bot token ' +
			'(Discord Developer Portal -> your application -> Bot -> Reset Token), or export it in the environment.',
		['- DISCORD_TOKEN: expected the bot token (got nothing)']
	);
}

/**
 * Loads a .env file into process.env when it exists (Node's own parser, no dotenv).
 * Variables already set in the environment win over the file. Returns whether a file was loaded.
 */
export function loadDotEnv(path = '.env'): boolean {
	if (!existsSync(path)) return false;
	try {
		process.loadEnvFile(path);
		return true;
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
		throw new ConfigError(`Cannot read ${resolve(path)}: ${(error as Error).message}`);
	}
}

type Issue = z.core.$ZodIssue;

function describeEnvIssue(row: ConfigVariable, issue: Issue, value: string): string {
	const label = row.name + issue.path.map((key) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`)).join('');
	let got: string;
	if (row.secret) got = `a value of ${value.trim().length} characters`;
	else if (issue.path.length === 0) got = quote(withoutPassword(value));
	else {
		// A field inside a JSON variable (ROLE_TIERS[0].roleId): show that field, not the whole JSON.
		const inner = valueAt(safeJsonParse(value), issue.path);
		if (inner === undefined && issue.code === 'invalid_type') return `- ${label}: expected a ${issue.expected}, but the field is missing`;
		got = inner === undefined ? 'nothing' : typeof inner === 'string' ? quote(inner) : JSON.stringify(inner);
	}
	return `- ${label}: ${issue.message} (got ${got})`;
}

function quote(value: string): string {
	return JSON.stringify(truncate(value, 120));
}

function safeJsonParse(text: string): unknown {
	try {
		return JSON.parse(text) as unknown;
	} catch {
		return undefined;
	}
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
	let current = input;
	for (const key of path) {
		if (current === null || typeof current !== 'object') return undefined;
		current = (current as Record<PropertyKey, unknown>)[key];
	}
	return current;
}
