import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { generationOptionsSchema, type GenerationOptions } from '../plugins/generation/options.js';
import { describeIssues, roleTierSchema, snowflakeSchema, storageOptionsSchema, type StorageOptions } from '../plugins/storage/options.js';

/** Log levels accepted in LOG_LEVEL, quietest last. */
export const logLevelNames = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevelName = (typeof logLevelNames)[number];

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
	/** Options for the generation plugin (`new SapphireClient({ generation: config.generation })`). */
	generation: GenerationOptions;
	/** Secret values to mask in logs wherever they appear. */
	secrets: string[];
	logLevel: LogLevelName;
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

/** Variables whose values must never be echoed: errors say how long they are instead. */
const secretNames = new Set(['DISCORD_TOKEN', 'STABILITY_API_KEY', 'A1111_AUTH']);

/** Every variable loadConfig reads (.env.example documents exactly these). */
export const configVariableNames = [
	'STORAGE_ROOT',
	'MAX_GLOBAL_STORAGE_MB',
	'MAX_USER_STORAGE_MB',
	'MAX_USER_DAILY_GENS',
	'STORAGE_CLEANUP_DAYS',
	'IMAGE_GEN_SIZE_MB',
	'QUOTA_LEDGER_URI',
	'ROLE_TIERS',
	'OWNER_IDS',
	'OWNER_DAILY_GENS',
	'CLEANUP_INTERVAL_MINUTES',
	'DISCORD_TOKEN',
	'STABILITY_API_KEY',
	'API_HOST',
	'IMAGE_PROVIDER',
	'STABILITY_API',
	'STABILITY_MODEL',
	'STABILITY_ENGINE',
	'A1111_AUTH',
	'GENERATION_CONCURRENCY',
	'GENERATION_TIMEOUT_SECONDS',
	'LOG_LEVEL'
] as const;
type EnvName = (typeof configVariableNames)[number];
type RawEnv = Partial<Record<EnvName, string>>;

/** Which variable sets each storage option, to name the right variable when the plugin's own schema rejects a value. */
const envNameOfStorageField: Record<string, EnvName> = {
	storageRoot: 'STORAGE_ROOT',
	maxGlobalStorageMb: 'MAX_GLOBAL_STORAGE_MB',
	maxUserStorageMb: 'MAX_USER_STORAGE_MB',
	maxUserDailyGens: 'MAX_USER_DAILY_GENS',
	cleanupDays: 'STORAGE_CLEANUP_DAYS',
	estimatedImageMb: 'IMAGE_GEN_SIZE_MB',
	ledgerUri: 'QUOTA_LEDGER_URI',
	roleTiers: 'ROLE_TIERS',
	ownerIds: 'OWNER_IDS',
	ownerLimits: 'OWNER_DAILY_GENS',
	cleanupIntervalMinutes: 'CLEANUP_INTERVAL_MINUTES'
};

// Strict number syntax: `12abc`, `-5`, `1e3`, `NaN`, `Infinity` and `0x10` are all rejected rather than half-parsed.
const decimalPattern = /^(?:\d+(?:\.\d+)?|\.\d+)$/;
const wholePattern = /^\d+$/;

function positiveNumber(message: string) {
	return z
		.string()
		.trim()
		.refine((raw) => decimalPattern.test(raw) && Number.isFinite(Number(raw)) && Number(raw) > 0, message)
		.transform(Number);
}

function wholeNumber(message: string) {
	return z
		.string()
		.trim()
		.refine((raw) => wholePattern.test(raw) && Number.isSafeInteger(Number(raw)), message)
		.transform(Number);
}

const megabytes = positiveNumber('expected a number of megabytes above 0');
const dailyGens = wholeNumber('expected a whole number of generations per day, 0 or more');

/** STABILITY_MODEL: a v2beta endpoint, or an SD 3.5 model (served by the sd3 endpoint). */
const stabilityModels = ['core', 'ultra', 'sd3.5-large', 'sd3.5-large-turbo', 'sd3.5-medium', 'sd3.5-flash'] as const;

const roleTiersExample = '[{"name":"Supporter","roleId":"123456789012345678","dailyGens":20,"storageMb":2000}]';

const roleTiers = z
	.string()
	.transform((raw, ctx) => {
		try {
			return JSON.parse(raw) as unknown;
		} catch (error) {
			ctx.addIssue({
				code: 'custom',
				message: `expected JSON like ${roleTiersExample}, but it does not parse (${(error as Error).message})`
			});
			return z.NEVER;
		}
	})
	.pipe(
		z
			.array(roleTierSchema, { error: `expected a JSON array of tiers like ${roleTiersExample}` })
			.refine((tiers) => new Set(tiers.map((tier) => tier.roleId)).size === tiers.length, 'expected each roleId at most once')
	);

const ownerIds = z.string().transform((raw, ctx) => {
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

const httpUrl = z
	.string()
	.trim()
	.refine((raw) => {
		try {
			const url = new URL(raw);
			return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
		} catch {
			return false;
		}
	}, 'expected an http(s) URL such as https://api.stability.ai')
	.transform((raw) => raw.replace(/\/+$/, ''));

/** A secret pasted with a space inside (often a "Bot " prefix or a line break) would fail later with a confusing 401. */
function secret(message: string) {
	return z
		.string()
		.trim()
		.refine((raw) => !/\s/.test(raw), message);
}

const envSchema = z.object({
	MAX_GLOBAL_STORAGE_MB: megabytes.default(5000),
	MAX_USER_STORAGE_MB: megabytes.default(500),
	MAX_USER_DAILY_GENS: dailyGens.default(5),
	STORAGE_CLEANUP_DAYS: positiveNumber('expected a number of days above 0').default(7),
	IMAGE_GEN_SIZE_MB: megabytes.default(1.5),
	QUOTA_LEDGER_URI: z
		.string()
		.trim()
		.regex(/^sqlite:\/\/.+/, 'expected a sqlite:// URI, e.g. sqlite://shared/quota.sqlite')
		.optional(),
	ROLE_TIERS: roleTiers.default([]),
	OWNER_IDS: ownerIds.default([]),
	OWNER_DAILY_GENS: dailyGens.optional(),
	CLEANUP_INTERVAL_MINUTES: wholeNumber('expected a whole number of minutes, 0 or more (0 turns automatic clean-up off)').default(60),
	DISCORD_TOKEN: secret('expected the bot token alone, without spaces or a "Bot " prefix').optional(),
	STABILITY_API_KEY: secret('expected the API key alone, without spaces').optional(),
	API_HOST: httpUrl.optional(),
	IMAGE_PROVIDER: z
		.string()
		.trim()
		.toLowerCase()
		.pipe(z.enum(['stability', 'automatic1111', 'preview'], { error: 'expected stability, automatic1111 or preview' }))
		.optional(),
	STABILITY_API: z
		.string()
		.trim()
		.toLowerCase()
		.pipe(z.enum(['v2beta', 'v1'], { error: 'expected v2beta (current) or v1 (engines)' }))
		.optional(),
	STABILITY_MODEL: z
		.string()
		.trim()
		.toLowerCase()
		.pipe(z.enum(stabilityModels, { error: `expected one of ${stabilityModels.join(', ')}` }))
		.optional(),
	STABILITY_ENGINE: z
		.string()
		.trim()
		.regex(/^[a-z0-9.-]{1,100}$/, 'expected a v1 engine id such as stable-diffusion-xl-1024-v1-0')
		.optional(),
	A1111_AUTH: z
		.string()
		.regex(/^[^:\s]+:\S+$/, 'expected user:password, as given to the web UI with --api-auth')
		.optional(),
	GENERATION_CONCURRENCY: wholeNumber('expected a whole number of requests, 1 or more')
		.refine((value) => value >= 1, 'expected a whole number of requests, 1 or more')
		.optional(),
	GENERATION_TIMEOUT_SECONDS: positiveNumber('expected a number of seconds above 0').optional(),
	LOG_LEVEL: z
		.string()
		.trim()
		.toLowerCase()
		.pipe(z.enum(logLevelNames, { error: `expected one of ${logLevelNames.join(', ')}` }))
		.default('info')
});

/**
 * Reads and validates the bot's configuration. Empty variables count as unset (their default applies).
 * Creates STORAGE_ROOT if needed. Throws one {@link ConfigError} listing every bad variable.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
	const raw = pickEnv(env);
	const problems: string[] = [];

	const parsed = envSchema.safeParse(raw);
	if (!parsed.success) {
		problems.push(...parsed.error.issues.map((issue) => describeEnvIssue(issue, raw)));
	}

	// STORAGE_ROOT is checked on disk even when other variables are wrong, so one run reports everything.
	let storageRoot = '';
	try {
		storageRoot = assertWritableDirectory('STORAGE_ROOT', raw.STORAGE_ROOT?.trim() ?? 'shared');
	} catch (error) {
		if (!(error instanceof ConfigError)) throw error;
		problems.push(...error.problems);
	}

	if (!parsed.success || problems.length > 0) throw ConfigError.fromProblems(problems);

	const values = parsed.data;
	const storage: StorageOptions = {
		storageRoot,
		maxGlobalStorageMb: values.MAX_GLOBAL_STORAGE_MB,
		maxUserStorageMb: values.MAX_USER_STORAGE_MB,
		maxUserDailyGens: values.MAX_USER_DAILY_GENS,
		cleanupDays: values.STORAGE_CLEANUP_DAYS,
		estimatedImageMb: values.IMAGE_GEN_SIZE_MB,
		...(values.QUOTA_LEDGER_URI === undefined ? {} : { ledgerUri: values.QUOTA_LEDGER_URI }),
		roleTiers: values.ROLE_TIERS,
		ownerIds: values.OWNER_IDS,
		ownerLimits: values.OWNER_DAILY_GENS === undefined ? {} : { dailyGens: values.OWNER_DAILY_GENS },
		cleanupIntervalMinutes: values.CLEANUP_INTERVAL_MINUTES
	};

	// The plugin's schema is the source of truth for its limits: if it is stricter than the rules above, say so now,
	// under the variable's name, rather than when the client starts.
	const checked = storageOptionsSchema.safeParse(storage);
	if (!checked.success) {
		throw ConfigError.fromProblems(
			describeIssues(checked.error, storage, (path) => envNameOfStorageField[String(path[0])] ?? path.join('.')).split('\n')
		);
	}

	const generation = generationOptionsFrom(values);
	const checkedGeneration = generationOptionsSchema.safeParse(generation);
	if (!checkedGeneration.success) {
		throw ConfigError.fromProblems(describeIssues(checkedGeneration.error, generation).split('\n'));
	}

	return {
		storage,
		ownerIds: values.OWNER_IDS,
		...(values.DISCORD_TOKEN === undefined ? {} : { discordToken: values.DISCORD_TOKEN }),
		...(values.STABILITY_API_KEY === undefined ? {} : { stabilityApiKey: values.STABILITY_API_KEY }),
		...(values.API_HOST === undefined ? {} : { apiHost: values.API_HOST }),
		generation,
		secrets: [values.DISCORD_TOKEN, values.STABILITY_API_KEY, values.A1111_AUTH, values.A1111_AUTH?.split(':').slice(1).join(':')].filter(
			(value): value is string => typeof value === 'string' && value.length > 0
		),
		logLevel: values.LOG_LEVEL
	};
}

/** The generation plugin's options from the environment. API_HOST points at whichever provider is chosen. */
function generationOptionsFrom(values: z.output<typeof envSchema>): GenerationOptions {
	const provider = values.IMAGE_PROVIDER;
	const model = values.STABILITY_MODEL;
	const [username, ...password] = values.A1111_AUTH?.split(':') ?? [];
	return {
		...(provider === undefined ? {} : { provider }),
		stability: {
			...(values.STABILITY_API_KEY === undefined ? {} : { apiKey: values.STABILITY_API_KEY }),
			...(values.API_HOST !== undefined && provider !== 'automatic1111' ? { host: values.API_HOST } : {}),
			...(values.STABILITY_API === undefined ? {} : { api: values.STABILITY_API }),
			...(model === undefined
				? {}
				: model.startsWith('sd3')
					? { model: 'sd3' as const, sd3Model: model as never }
					: { model: model as 'core' | 'ultra' }),
			...(values.STABILITY_ENGINE === undefined ? {} : { engine: values.STABILITY_ENGINE })
		},
		automatic1111: {
			...(values.API_HOST !== undefined && provider === 'automatic1111' ? { host: values.API_HOST } : {}),
			...(username ? { username, password: password.join(':') } : {})
		},
		http: {
			...(values.GENERATION_CONCURRENCY === undefined ? {} : { maxConcurrent: values.GENERATION_CONCURRENCY }),
			...(values.GENERATION_TIMEOUT_SECONDS === undefined ? {} : { generateTimeoutSeconds: values.GENERATION_TIMEOUT_SECONDS })
		}
	};
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

/** Known variables only; blank values count as unset so `MAX_USER_STORAGE_MB=` means "the default". */
function pickEnv(env: NodeJS.ProcessEnv): RawEnv {
	const raw: RawEnv = {};
	for (const name of configVariableNames) {
		const value = env[name];
		if (value !== undefined && value.trim() !== '') raw[name] = value;
	}
	return raw;
}

type Issue = z.core.$ZodIssue;

function describeEnvIssue(issue: Issue, raw: RawEnv): string {
	const [head, ...rest] = issue.path;
	const name = String(head) as EnvName;
	const value = raw[name];
	const label = name + rest.map((key) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`)).join('');

	let got: string;
	if (value === undefined) got = 'nothing';
	else if (secretNames.has(name)) got = `a value of ${value.length} characters`;
	else if (rest.length === 0) got = quote(value);
	else {
		// A field inside a JSON variable (ROLE_TIERS[0].roleId): show that field, not the whole JSON.
		const inner = valueAt(safeJsonParse(value), rest);
		if (inner === undefined && issue.code === 'invalid_type') return `- ${label}: expected a ${issue.expected}, but the field is missing`;
		got = inner === undefined ? 'nothing' : typeof inner === 'string' ? quote(inner) : JSON.stringify(inner);
	}
	return `- ${label}: ${issue.message} (got ${got})`;
}

function quote(value: string): string {
	const max = 120;
	return JSON.stringify(value.length > max ? `${value.slice(0, max)}…` : value);
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
