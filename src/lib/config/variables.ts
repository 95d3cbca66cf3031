import { z } from 'zod';
import { creditCostsSchema } from '../../plugins/generation/creditCosts.js';
import type { GenerationOptions } from '../../plugins/generation/options.js';
import { ledgerUriSchema, roleTierSchema, s3EndpointSchema, storageUriSchema, type StorageOptions } from '../../plugins/storage/options.js';
import { logFormatNames, type LogFormat } from '../logger.js';
import {
	booleanWord,
	extraHeadersJson,
	httpUrl,
	jsonOf,
	oneOf,
	passwordIn,
	positiveNumber,
	secret,
	snowflakeList,
	blocklistWords,
	wholeNumber,
	workflowFolder
} from './parsers.js';

/** Log levels accepted in LOG_LEVEL, quietest last. */
export const logLevelNames = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevelName = (typeof logLevelNames)[number];

/** What the variables fill in; `loadConfig` turns it into an `AppConfig`. */
export interface ConfigDraft {
	storage: StorageOptions;
	generation: GenerationOptions & {
		stability: NonNullable<GenerationOptions['stability']>;
		automatic1111: NonNullable<GenerationOptions['automatic1111']>;
		comfyui: NonNullable<GenerationOptions['comfyui']>;
		openai: NonNullable<GenerationOptions['openai']>;
		http: NonNullable<GenerationOptions['http']>;
	};
	ownerIds: string[];
	discordToken?: string;
	discordApiUrl?: string;
	stabilityApiKey?: string;
	apiHost?: string;
	logLevel: LogLevelName;
	logFormat?: LogFormat;
	commandGuildIds: string[];
	/** Values to mask in logs wherever they appear. */
	secrets: string[];
}

export type ConfigGroup = 'Discord' | 'Storage & quotas' | "Owners' controls" | 'S3 storage' | 'Generation' | 'Logging';

/**
 * One environment variable: how it is parsed, where its value goes, and how it is documented. This table is
 * the only list of variables: `loadConfig` reads exactly these, and a test checks the README's configuration
 * table and `.env.example` against it (`npm run docs:config` rewrites both).
 */
export interface ConfigVariable<T = unknown> {
	name: string;
	group: ConfigGroup;
	/** The README's "Meaning" and the comment above the variable in `.env.example`. */
	description: string;
	/** The README's "Default" cell, as shown (a value in backticks, or words in parentheses). */
	documentedDefault: string;
	/** The value `.env.example` gives (empty: the default applies). */
	example?: string;
	/** Never echoed, not even in an error: errors give its length instead. */
	secret?: boolean;
	parse: z.ZodType<T, string>;
	/**
	 * The plugin option it sets, e.g. `storage.maxGlobalStorageMb`. Left unset when the variable is, so the
	 * plugin's own default applies (a test checks `documentedDefault` against it).
	 */
	option?: string;
	/** For a value that does not go to one option: puts it where it belongs. `values` holds every parsed variable. */
	apply?: (draft: ConfigDraft, value: T, values: Readonly<Record<string, unknown>>) => void;
}

function variable<T>(row: ConfigVariable<T>): ConfigVariable {
	return row as ConfigVariable;
}

const megabytes = positiveNumber('expected a number of megabytes above 0');
const checksumMode = oneOf(['when_supported', 'when_required'], 'expected WHEN_SUPPORTED or WHEN_REQUIRED').transform(
	(mode) => mode.toUpperCase() as 'WHEN_SUPPORTED' | 'WHEN_REQUIRED'
);

/**
 * The AWS credential variables, named as the AWS SDK names them. With STORAGE_URI set and both the key id and the
 * secret present, they become the store's credentials (read from the environment this configuration was loaded
 * from, as the SDK's own environment provider would); otherwise the SDK's chain applies (profiles, instance
 * roles). Either way a wrong value is named at start-up and the values are masked wherever they appear.
 */
function awsCredential(name: string, description: string): ConfigVariable {
	return variable({
		name,
		group: 'S3 storage',
		description,
		documentedDefault: '(none)',
		secret: true,
		parse: secret('expected the value alone, without spaces'),
		apply: (draft, value, values) => {
			draft.secrets.push(value);
			const accessKeyId = values.AWS_ACCESS_KEY_ID as string | undefined;
			const secretAccessKey = values.AWS_SECRET_ACCESS_KEY as string | undefined;
			if (name !== 'AWS_SECRET_ACCESS_KEY' || values.STORAGE_URI === undefined || !accessKeyId || !secretAccessKey) return;
			const sessionToken = values.AWS_SESSION_TOKEN as string | undefined;
			draft.storage.s3 = { ...draft.storage.s3, credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } };
		}
	});
}

const dailyGens = wholeNumber('expected a whole number of generations per day, 0 or more');

/** STABILITY_MODEL: a v2beta endpoint, or an SD 3.5 model (served by the sd3 endpoint). */
const stabilityModels = ['core', 'ultra', 'sd3.5-large', 'sd3.5-large-turbo', 'sd3.5-medium', 'sd3.5-flash'] as const;

const creditCostsExample = '{"stability":{"text-to-image":3.5},"comfyui":{"text-to-image":1}}';

const roleTiersExample = '[{"name":"Supporter","roleId":"123456789012345678","dailyGens":20,"storageMb":2000}]';

/** A year: the longest interval worth a setting (longer timers are also handled, see `storage/timers.ts`). */
export const MAX_CLEANUP_INTERVAL_MINUTES = 525_600;
/** An hour: no provider takes longer to start answering; a longer setting is a typo. */
export const MAX_GENERATION_TIMEOUT_SECONDS = 3600;
export const MAX_CLEANUP_DAYS = 3650;

export const configVariables: readonly ConfigVariable[] = [
	variable({
		name: 'DISCORD_TOKEN',
		group: 'Discord',
		description:
			'The bot token (Discord Developer Portal -> your application -> Bot -> Reset Token). Required to run the bot; never logged.',
		documentedDefault: '(required to run the bot)',
		secret: true,
		parse: secret('expected the bot token alone, without spaces or a "Bot " prefix'),
		apply: (draft, value) => {
			draft.discordToken = value;
			draft.secrets.push(value);
		}
	}),
	variable({
		name: 'DISCORD_API_URL',
		group: 'Discord',
		description: 'For tests only: where REST calls and the token go instead of https://discord.com/api (a Discord stand-in).',
		documentedDefault: '(Discord)',
		parse: httpUrl('http://127.0.0.1:8080'),
		apply: (draft, value) => {
			draft.discordApiUrl = value;
		}
	}),
	variable({
		name: 'OWNER_IDS',
		group: 'Discord',
		description: "Comma-separated Discord user ids of the bot's owners: they get OWNER_DAILY_GENS and the whole global cap.",
		documentedDefault: '(none)',
		parse: snowflakeList,
		apply: (draft, value) => {
			draft.ownerIds = value;
			draft.storage.ownerIds = value;
		}
	}),
	variable({
		name: 'COMMAND_GUILD_IDS',
		group: 'Discord',
		description:
			'Comma-separated server ids to register the slash commands in, where a change shows at once: for development on a test server. ' +
			'Empty: registered globally, for every server the bot is in.',
		documentedDefault: '(none: global)',
		parse: snowflakeList,
		apply: (draft, value) => {
			draft.commandGuildIds = value;
		}
	}),
	variable({
		name: 'STORAGE_ROOT',
		group: 'Storage & quotas',
		description:
			'Folder for images, temp files, logs and the quota ledger (with STORAGE_URI: logs and the ledger only). Created if missing; must be writable.',
		documentedDefault: '`shared`',
		example: 'shared',
		parse: z.string().trim(),
		// Checked on disk (and made absolute) by loadConfig.
		option: 'storage.storageRoot'
	}),
	variable({
		name: 'MAX_GLOBAL_STORAGE_MB',
		group: 'Storage & quotas',
		description: 'Cap on everything stored, temp files included, in MB.',
		documentedDefault: '`5000`',
		example: '5000',
		parse: megabytes,
		option: 'storage.maxGlobalStorageMb'
	}),
	variable({
		name: 'MAX_USER_STORAGE_MB',
		group: 'Storage & quotas',
		description: 'Default per-user cap on saved images, in MB.',
		documentedDefault: '`500`',
		example: '500',
		parse: megabytes,
		option: 'storage.maxUserStorageMb'
	}),
	variable({
		name: 'MAX_USER_DAILY_GENS',
		group: 'Storage & quotas',
		description: 'Default generations per user per UTC day (0 turns generation off for users without a tier or override).',
		documentedDefault: '`5`',
		example: '5',
		parse: dailyGens,
		option: 'storage.maxUserDailyGens'
	}),
	variable({
		name: 'OWNER_DAILY_GENS',
		group: 'Storage & quotas',
		description: 'Generations per day for the users in OWNER_IDS (they may use the whole global cap).',
		documentedDefault: '`100`',
		parse: dailyGens,
		option: 'storage.ownerLimits.dailyGens'
	}),
	variable({
		name: 'ROLE_TIERS',
		group: 'Storage & quotas',
		description: `JSON array of role tiers; the best tier a member holds wins. Optional per tier: \`maxJobs\`, \`maxQueued\` (job caps). Example: ${roleTiersExample}`,
		documentedDefault: '(none)',
		parse: jsonOf(
			z
				.array(roleTierSchema, { error: `expected a JSON array of tiers like ${roleTiersExample}` })
				.refine((tiers) => new Set(tiers.map((tier) => tier.roleId)).size === tiers.length, 'expected each roleId at most once'),
			roleTiersExample
		),
		option: 'storage.roleTiers'
	}),
	variable({
		name: 'STORAGE_CLEANUP_DAYS',
		group: 'Storage & quotas',
		description: 'Temp files older than this many days are removed by clean-up.',
		documentedDefault: '`7`',
		example: '7',
		parse: positiveNumber(`expected a number of days above 0, at most ${MAX_CLEANUP_DAYS}`, MAX_CLEANUP_DAYS),
		option: 'storage.cleanupDays'
	}),
	variable({
		name: 'CLEANUP_INTERVAL_MINUTES',
		group: 'Storage & quotas',
		description: 'How often clean-up runs on its own, in minutes (0 = never; at most a year).',
		documentedDefault: '`60`',
		example: '60',
		parse: wholeNumber(
			`expected a whole number of minutes from 0 to ${MAX_CLEANUP_INTERVAL_MINUTES} (a year; 0 turns automatic clean-up off)`,
			0,
			MAX_CLEANUP_INTERVAL_MINUTES
		),
		option: 'storage.cleanupIntervalMinutes'
	}),
	variable({
		name: 'IMAGE_GEN_SIZE_MB',
		group: 'Storage & quotas',
		description: 'What one generation is assumed to store, in MB; reserved before the call, corrected to the real size after.',
		documentedDefault: '`1.5`',
		example: '1.5',
		parse: megabytes,
		option: 'storage.estimatedImageMb'
	}),
	variable({
		name: 'QUOTA_LEDGER_URI',
		group: 'Storage & quotas',
		description:
			'Where the quota ledger lives: `sqlite://<file>` (one machine) or `postgres://user:password@host:5432/database` (shared by several hosts; TLS with `?sslmode=require`, a schema with `?options=-c%20search_path%3Dname`). The password is never logged.',
		documentedDefault: '`sqlite://<STORAGE_ROOT>/quota.sqlite`',
		parse: z.string().trim().pipe(ledgerUriSchema),
		option: 'storage.ledgerUri',
		apply: (draft, value) => {
			const password = /^[a-z][a-z0-9+.-]*:\/\/[^/:@\s]*:([^@/\s]+)@/i.exec(value)?.[1];
			if (password) draft.secrets.push(password, decodeURIComponent(password));
		}
	}),
	variable({
		name: 'QUOTA_LEDGER_POOL_SIZE',
		group: 'Storage & quotas',
		description: 'Connections to a PostgreSQL ledger each process keeps at most (1 to 50).',
		documentedDefault: '`2`',
		parse: wholeNumber('expected a whole number of connections from 1 to 50', 1, 50),
		option: 'storage.ledgerPoolSize'
	}),
	variable({
		name: 'MAX_JOBS_PER_USER',
		group: "Owners' controls",
		description:
			"Jobs one user may have generating at once, counted across every process sharing the ledger (a role tier's `maxJobs` wins). " +
			'Empty: no cap.',
		documentedDefault: '(none)',
		parse: wholeNumber('expected a whole number of jobs from 1 to 1000', 1, 1000),
		option: 'storage.maxJobsPerUser'
	}),
	variable({
		name: 'MAX_QUEUED_PER_USER',
		group: "Owners' controls",
		description:
			'Jobs one user may have waiting beyond MAX_JOBS_PER_USER (they start as the running ones end); the next one is refused ' +
			"(TOO_MANY_JOBS). A role tier's `maxQueued` wins. Needs MAX_JOBS_PER_USER.",
		documentedDefault: '`0`',
		parse: wholeNumber('expected a whole number of jobs from 0 to 1000', 0, 1000),
		option: 'storage.maxQueuedPerUser'
	}),
	variable({
		name: 'DAILY_CREDIT_BUDGET',
		group: "Owners' controls",
		description:
			'Provider credits the whole bot may spend per UTC day (decimals allowed); jobs past it are refused (CREDIT_BUDGET). `budget --global N` overrides it.',
		documentedDefault: '(none)',
		parse: positiveNumber('expected a number of credits above 0'),
		option: 'storage.dailyCreditBudget'
	}),
	variable({
		name: 'USER_DAILY_CREDIT_BUDGET',
		group: "Owners' controls",
		description: "Provider credits each user may spend per UTC day; `budget --user ID N` sets one user's.",
		documentedDefault: '(none)',
		parse: positiveNumber('expected a number of credits above 0'),
		option: 'storage.userDailyCreditBudget'
	}),
	variable({
		name: 'GUILD_DAILY_CREDIT_BUDGET',
		group: "Owners' controls",
		description: "Provider credits each server may spend per UTC day, all its members together; `budget --guild ID N` sets one server's.",
		documentedDefault: '(none)',
		parse: positiveNumber('expected a number of credits above 0'),
		option: 'storage.guildDailyCreditBudget'
	}),
	variable({
		name: 'CREDIT_COSTS',
		group: "Owners' controls",
		description: `JSON of credits per job, merged over the defaults (Stability: core 3, ultra 8, sd3.5 models 2.5 to 6.5, upscale 2; other providers 0). Example: ${creditCostsExample}`,
		documentedDefault: "(Stability's prices)",
		parse: jsonOf(creditCostsSchema, creditCostsExample),
		option: 'generation.creditCosts'
	}),
	variable({
		name: 'PROMPT_BLOCKLIST',
		group: "Owners' controls",
		description:
			'Comma-separated words or phrases a prompt may not contain, matched as whole words ignoring case, accents, look-alike letters and digits (`nud3`, `a$$`) and ' +
			'letters spelt out one by one; `/.../` is a regular expression. Added to the list the CLI `blocklist` keeps in the ledger.',
		documentedDefault: '(none)',
		parse: blocklistWords,
		option: 'storage.promptBlocklist'
	}),
	variable({
		name: 'ALLOW_NSFW_LAX',
		group: "Owners' controls",
		description:
			"`true`: servers' admins may give their age-restricted (NSFW) channels a laxer setting (`/imagine-settings age-restricted`, " +
			"`settings --nsfw-lax`): no server blocklist there, OpenAI gpt-image `moderation: low`. See Owners' controls.",
		documentedDefault: '`false`',
		parse: booleanWord('expected true or false'),
		option: 'storage.allowNsfwLax'
	}),
	variable({
		name: 'STORAGE_URI',
		group: 'S3 storage',
		description:
			'`s3://bucket/prefix`: keep images in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO, Backblaze B2) under that prefix; STORAGE_ROOT then holds only logs and a SQLite ledger. See "S3-compatible storage".',
		documentedDefault: '(images under STORAGE_ROOT)',
		parse: z.string().trim().pipe(storageUriSchema),
		option: 'storage.storageUri'
	}),
	variable({
		name: 'S3_ENDPOINT',
		group: 'S3 storage',
		description: 'Full URL of the S3 server, e.g. `http://127.0.0.1:9000` (MinIO) or `https://<account>.r2.cloudflarestorage.com`.',
		documentedDefault: '(AWS S3)',
		parse: z.string().trim().pipe(s3EndpointSchema),
		option: 'storage.s3.endpoint'
	}),
	variable({
		name: 'S3_REGION',
		group: 'S3 storage',
		description: "The bucket's region (`auto` for Cloudflare R2).",
		documentedDefault: '`us-east-1`',
		parse: z.string().trim().toLowerCase(),
		option: 'storage.s3.region'
	}),
	variable({
		name: 'S3_FORCE_PATH_STYLE',
		group: 'S3 storage',
		description: '`true`: address the bucket as `<endpoint>/<bucket>` (MinIO, servers reached by IP); `false`: as `<bucket>.<endpoint>`.',
		documentedDefault: '`false`',
		parse: booleanWord('expected true or false'),
		option: 'storage.s3.forcePathStyle'
	}),
	awsCredential(
		'AWS_ACCESS_KEY_ID',
		'The S3 access key id, read by the AWS SDK (as are its profiles and roles when it is unset). Never logged.'
	),
	awsCredential('AWS_SECRET_ACCESS_KEY', 'The S3 secret access key, read by the AWS SDK. Never logged.'),
	awsCredential('AWS_SESSION_TOKEN', 'A session token for temporary S3 credentials, read by the AWS SDK. Never logged.'),
	variable({
		name: 'AWS_REQUEST_CHECKSUM_CALCULATION',
		group: 'S3 storage',
		description:
			'`WHEN_SUPPORTED` or `WHEN_REQUIRED`: when uploads carry a checksum. Cloudflare R2 and Backblaze B2 need `WHEN_REQUIRED` (they would store the newer aws-chunked framing as content).',
		documentedDefault: '(the AWS SDK: `WHEN_SUPPORTED`)',
		parse: checksumMode,
		option: 'storage.s3.requestChecksumCalculation'
	}),
	variable({
		name: 'AWS_RESPONSE_CHECKSUM_VALIDATION',
		group: 'S3 storage',
		description:
			'`WHEN_SUPPORTED` or `WHEN_REQUIRED`: when downloads are checked against their checksum (`WHEN_REQUIRED` beside the above).',
		documentedDefault: '(the AWS SDK: `WHEN_SUPPORTED`)',
		parse: checksumMode,
		option: 'storage.s3.responseChecksumValidation'
	}),
	variable({
		name: 'IMAGE_PROVIDER',
		group: 'Generation',
		description: '`stability`, `automatic1111`, `comfyui`, `openai` or `preview` (offline placeholders). See Providers.',
		documentedDefault: '`stability` with a key, else `preview`',
		parse: oneOf(
			['stability', 'automatic1111', 'comfyui', 'openai', 'preview'],
			'expected stability, automatic1111, comfyui, openai or preview'
		),
		option: 'generation.provider'
	}),
	variable({
		name: 'STABILITY_API_KEY',
		group: 'Generation',
		description: 'Stability AI key (https://platform.stability.ai/account/keys). Never logged.',
		documentedDefault: '(none)',
		secret: true,
		parse: secret('expected the API key alone, without spaces'),
		apply: (draft, value) => {
			draft.stabilityApiKey = value;
			draft.generation.stability.apiKey = value;
			draft.secrets.push(value);
		}
	}),
	variable({
		name: 'API_HOST',
		group: 'Generation',
		description: 'Base URL of the Stability or AUTOMATIC1111 API, whichever is chosen (ComfyUI and OpenAI have their own below).',
		documentedDefault: '`https://api.stability.ai`, `http://127.0.0.1:7860` for automatic1111',
		parse: httpUrl('https://api.stability.ai'),
		apply: (draft, value, values) => {
			draft.apiHost = value;
			if (values.IMAGE_PROVIDER === 'automatic1111') draft.generation.automatic1111.host = value;
			else draft.generation.stability.host = value;
		}
	}),
	variable({
		name: 'STABILITY_API',
		group: 'Generation',
		description: 'Stability API generation: `v2beta` (current) or `v1` (engines, maintenance only).',
		documentedDefault: '`v2beta`',
		parse: oneOf(['v2beta', 'v1'], 'expected v2beta (current) or v1 (engines)'),
		option: 'generation.stability.api'
	}),
	variable({
		name: 'STABILITY_MODEL',
		group: 'Generation',
		description: `v2beta model: ${stabilityModels.map((model) => `\`${model}\``).join(', ')}.`,
		documentedDefault: '`core`',
		parse: oneOf(stabilityModels, `expected one of ${stabilityModels.join(', ')}`),
		apply: (draft, value) => {
			if (value.startsWith('sd3')) Object.assign(draft.generation.stability, { model: 'sd3', sd3Model: value });
			else draft.generation.stability.model = value as 'core' | 'ultra';
		}
	}),
	variable({
		name: 'STABILITY_ENGINE',
		group: 'Generation',
		description: 'v1 engine id.',
		documentedDefault: '`stable-diffusion-xl-1024-v1-0`',
		parse: z
			.string()
			.trim()
			.regex(/^[a-z0-9.-]{1,100}$/, 'expected a v1 engine id such as stable-diffusion-xl-1024-v1-0'),
		option: 'generation.stability.engine'
	}),
	variable({
		name: 'A1111_AUTH',
		group: 'Generation',
		description: '`user:password` for an AUTOMATIC1111 web UI started with `--api-auth`. Never logged.',
		documentedDefault: '(none)',
		secret: true,
		parse: z.string().regex(/^[^:\s]+:\S+$/, 'expected user:password, as given to the web UI with --api-auth'),
		apply: (draft, value) => {
			const [username, ...password] = value.split(':');
			Object.assign(draft.generation.automatic1111, { username, password: password.join(':') });
			draft.secrets.push(value, password.join(':'));
		}
	}),
	variable({
		name: 'COMFYUI_URL',
		group: 'Generation',
		description: "ComfyUI's address (`user:password@` in it becomes HTTP Basic auth).",
		documentedDefault: '`http://127.0.0.1:8188`',
		parse: httpUrl('http://127.0.0.1:8188'),
		option: 'generation.comfyui.url',
		apply: (draft, value) => {
			const password = passwordIn(value);
			if (password) draft.secrets.push(password);
		}
	}),
	variable({
		name: 'COMFYUI_CHECKPOINT',
		group: 'Generation',
		description: "The checkpoint file (in ComfyUI's `models/checkpoints`) the default workflows load: their `{{checkpoint}}`.",
		documentedDefault: '`v1-5-pruned-emaonly.safetensors`',
		parse: z
			.string()
			.trim()
			.regex(/^[^\r\n\0]{1,500}$/, 'expected a checkpoint file name such as v1-5-pruned-emaonly.safetensors'),
		option: 'generation.comfyui.checkpoint'
	}),
	variable({
		name: 'COMFYUI_WORKFLOWS',
		group: 'Generation',
		description:
			'A folder with your own `text-to-image.json`, `image-to-image.json` and/or `upscale.json` (ComfyUI API format, with placeholders; see ComfyUI workflows), each replacing the default of its kind. Checked at start-up.',
		documentedDefault: '(the shipped workflows)',
		parse: workflowFolder,
		option: 'generation.comfyui.workflowsDir'
	}),
	variable({
		name: 'COMFYUI_HEADERS',
		group: 'Generation',
		description:
			'JSON of extra headers for every ComfyUI request and its websocket, for a proxy\'s auth: `{"X-Proxy-Token":"..."}`. Never logged.',
		documentedDefault: '(none)',
		secret: true,
		parse: extraHeadersJson,
		option: 'generation.comfyui.headers',
		apply: (draft, value) => draft.secrets.push(...Object.values(value))
	}),
	variable({
		name: 'OPENAI_API_KEY',
		group: 'Generation',
		description: 'OpenAI key: required for api.openai.com; an OpenAI-compatible server elsewhere may need none. Never logged.',
		documentedDefault: '(none)',
		secret: true,
		parse: secret('expected the API key alone, without spaces'),
		option: 'generation.openai.apiKey',
		apply: (draft, value) => draft.secrets.push(value)
	}),
	variable({
		name: 'OPENAI_BASE_URL',
		group: 'Generation',
		description:
			"Includes the version path, as the official SDK's does. Azure OpenAI: `https://<resource>.openai.azure.com/openai/v1`; or a compatible server's URL.",
		documentedDefault: '`https://api.openai.com/v1`',
		parse: httpUrl('https://api.openai.com/v1'),
		option: 'generation.openai.baseUrl'
	}),
	variable({
		name: 'OPENAI_IMAGE_MODEL',
		group: 'Generation',
		description: "`gpt-image-1` (or another `gpt-image-*`), `dall-e-3`, `dall-e-2`, or a compatible server's model name.",
		documentedDefault: '`gpt-image-1`',
		parse: z
			.string()
			.trim()
			.regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$/, 'expected a model name such as gpt-image-1 or dall-e-3'),
		option: 'generation.openai.model'
	}),
	variable({
		name: 'GENERATION_CONCURRENCY',
		group: 'Generation',
		description: 'Generations the provider works on at once, the offline preview included; more wait in a queue whose place users see.',
		documentedDefault: '`2`',
		parse: wholeNumber('expected a whole number of generations, 1 or more', 1, 64),
		option: 'generation.concurrency'
	}),
	variable({
		name: 'GENERATION_TIMEOUT_SECONDS',
		group: 'Generation',
		description: `Seconds a generation may take to start answering (at most ${MAX_GENERATION_TIMEOUT_SECONDS}); for ComfyUI, the longest silence of its queue and progress.`,
		documentedDefault: '`90` for Stability, `180` for OpenAI, `300` for AUTOMATIC1111 and ComfyUI',
		parse: positiveNumber(
			`expected a number of seconds above 0, at most ${MAX_GENERATION_TIMEOUT_SECONDS}`,
			MAX_GENERATION_TIMEOUT_SECONDS
		),
		option: 'generation.http.generateTimeoutSeconds'
	}),
	variable({
		name: 'LOG_LEVEL',
		group: 'Logging',
		description: '`trace`, `debug`, `info`, `warn`, `error` or `fatal`.',
		documentedDefault: '`info`',
		example: 'info',
		parse: oneOf(logLevelNames, `expected one of ${logLevelNames.join(', ')}`),
		apply: (draft, value) => {
			draft.logLevel = value;
		}
	}),
	variable({
		name: 'LOG_FORMAT',
		group: 'Logging',
		description:
			'`json` (one JSON object per line) or `pretty` (readable lines). Empty: `pretty` on a terminal, `json` when piped or redirected.',
		documentedDefault: '(by terminal)',
		parse: oneOf(logFormatNames, 'expected json or pretty (unset: pretty on a terminal, json otherwise)'),
		apply: (draft, value) => {
			draft.logFormat = value;
		}
	})
];

/** Every variable loadConfig reads, in the order they are documented. */
export const configVariableNames: readonly string[] = configVariables.map((row) => row.name);

/** The variable that sets a plugin option (`storage.ownerLimits.dailyGens` -> OWNER_DAILY_GENS), to name it in errors. */
export function variableOfOption(option: string): ConfigVariable | undefined {
	return configVariables.find((row) => row.option !== undefined && (option === row.option || option.startsWith(`${row.option}.`)));
}
