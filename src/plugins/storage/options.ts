import { resolve } from 'node:path';
import { z } from 'zod';
import { isStorageMessages, type StorageMessages } from './StorageMessages.js';
import { parseS3Uri } from './images/s3/s3Uri.js';
import { SNOWFLAKE_PATTERN } from './ids.js';
import { checkEntry } from './controls/promptBlocklist.js';

export const snowflakeSchema = z.string().regex(SNOWFLAKE_PATTERN, 'expected a Discord id (17 to 20 digits)');

/**
 * Where the ledger lives: `sqlite://<file>` (embedded, one machine) or `postgres://user:password@host/db` (a server
 * shared by every host). An in-memory SQLite database (`sqlite://:memory:`, Keyv's own default, so people copy it)
 * would enforce nothing between processes or across a restart and forget every override: refused.
 */
export const ledgerUriSchema = z
	.string()
	.regex(
		/^(?:sqlite:\/\/.+|postgres(?:ql)?:\/\/[^/\s]+(?:\/\S*)?)$/i,
		'expected sqlite://<file> (e.g. sqlite://shared/quota.sqlite) or postgres://user:password@host:5432/database'
	)
	.refine(
		(uri) => !/^sqlite:\/\/(?:file:)?:memory:|[?&]mode=memory\b/i.test(uri),
		'expected a file: an in-memory ledger forgets every limit and override on restart and is not shared between processes'
	);

/** Where images live when not on the local disk: an S3-compatible bucket and a prefix inside it. */
export const storageUriSchema = z.string().superRefine((uri, context) => {
	const parsed = parseS3Uri(uri);
	if ('problem' in parsed) context.addIssue({ code: 'custom', message: parsed.problem });
});

/** An S3 endpoint: a full http(s) URL. Credentials go in the credentials, never in the URL (it is shown in messages). */
export const s3EndpointSchema = z.string().refine((raw) => {
	try {
		const url = new URL(raw);
		return (
			(url.protocol === 'http:' || url.protocol === 'https:') &&
			url.hostname !== '' &&
			!url.username &&
			!url.password &&
			!url.search &&
			!url.hash
		);
	} catch {
		return false;
	}
}, 'expected a full http(s) URL such as http://127.0.0.1:9000, without a user, password or query');

const checksumMode = z.enum(['WHEN_SUPPORTED', 'WHEN_REQUIRED'], { error: 'expected WHEN_SUPPORTED or WHEN_REQUIRED' });

/** How to reach an S3-compatible store (used only with an `s3://` storageUri). */
export const s3OptionsSchema = z
	.object({
		/** The server's URL, e.g. http://127.0.0.1:9000 (MinIO) or https://<account>.r2.cloudflarestorage.com; default: AWS S3. */
		endpoint: s3EndpointSchema.optional(),
		/** The bucket's region; `auto` for Cloudflare R2. */
		region: z
			.string()
			.regex(/^[a-z0-9-]{1,64}$/, 'expected a region name such as us-east-1 (Cloudflare R2: auto)')
			.default('us-east-1'),
		/** Address buckets as `<endpoint>/<bucket>` rather than `<bucket>.<endpoint>` (MinIO and servers reached by IP need it). */
		forcePathStyle: z.boolean().default(false),
		/** Explicit credentials; without them the AWS SDK's own chain applies (AWS_ACCESS_KEY_ID... , profiles, roles). */
		credentials: z
			.object({
				accessKeyId: z.string().min(1),
				secretAccessKey: z.string().min(1),
				sessionToken: z.string().min(1).optional()
			})
			.strict()
			.optional(),
		/**
		 * When uploads carry a checksum: `WHEN_REQUIRED` for stores that keep the SDK's newer aws-chunked framing as
		 * content (Cloudflare R2, Backblaze B2). Default: the SDK's own (AWS_REQUEST_CHECKSUM_CALCULATION, else WHEN_SUPPORTED).
		 */
		requestChecksumCalculation: checksumMode.optional(),
		/** When downloads are checked against a checksum. Default: the SDK's own (AWS_RESPONSE_CHECKSUM_VALIDATION). */
		responseChecksumValidation: checksumMode.optional()
	})
	.strict();

const megabytes = z.number().positive('expected a number of megabytes above 0').finite();
const count = z.number().int('expected a whole number').min(0, 'expected 0 or more');

/** A set of limits a role grants; the best tier a member holds wins (highest daily limit, then storage). */
export const roleTierSchema = z.object({
	/** A label shown in quota replies, e.g. "Supporter". */
	name: z.string().min(1).max(64),
	roleId: snowflakeSchema,
	dailyGens: count,
	storageMb: megabytes,
	/** Jobs a member may have generating at once (default: maxJobsPerUser). */
	maxJobs: z.number().int('expected a whole number').min(1, 'expected 1 or more').optional(),
	/** Jobs a member may have waiting beyond those (default: maxQueuedPerUser). */
	maxQueued: count.optional()
});

export const limitsSchema = z.object({
	dailyGens: count,
	storageMb: megabytes
});

/**
 * Options of the storage plugin, given as `new SapphireClient({ storage: { ... } })`.
 * Every field is optional; the defaults are the original design's.
 */
export const storageOptionsSchema = z
	.object({
		/**
		 * Folder holding images/, temp/, logs/ and the ledger. Relative paths resolve against the working directory.
		 * With an S3 `storageUri` it holds only local things (logs, a SQLite ledger), never an image.
		 */
		storageRoot: z.string().min(1).default('shared'),
		/** `s3://bucket/prefix`: images in an S3-compatible bucket (see `s3`). Default: the local disk under storageRoot. */
		storageUri: storageUriSchema.optional(),
		/** How to reach the bucket of an S3 `storageUri`. */
		s3: s3OptionsSchema.default({ region: 'us-east-1', forcePathStyle: false }),
		/** Cap on everything stored, temp files included. */
		maxGlobalStorageMb: megabytes.default(5000),
		/** Default per-user cap on saved (non-temp) images. */
		maxUserStorageMb: megabytes.default(500),
		/** Default generations per user per UTC day. 0 turns generation off for users without a tier or override. */
		maxUserDailyGens: count.default(5),
		/** Temp files older than this many days are removed by clean-up (at most 3650). */
		cleanupDays: z.number().positive().max(3650, 'expected 3650 days or less').default(7),
		/** What one generation is assumed to store before its real size is known; reserved up front. */
		estimatedImageMb: megabytes.default(1.5),
		/** URI of the quota ledger; only `sqlite://<file>` (atomic reservations need conditional SQL). Default: sqlite://<storageRoot>/quota.sqlite */
		ledgerUri: ledgerUriSchema.optional(),
		/** Connections to a PostgreSQL ledger this process keeps at most (32 processes x 2 stay below PostgreSQL's default 100). */
		ledgerPoolSize: z.number().int('expected a whole number').min(1, 'expected 1 or more').max(50, 'expected 50 or less').default(2),
		/** TLS options for a PostgreSQL ledger (node-postgres `ssl`: a CA, a client certificate...); `sslmode` in the URI also works. */
		ledgerTls: z.union([z.boolean(), z.record(z.string(), z.unknown())]).optional(),
		/** Role tiers: role id -> limits. */
		roleTiers: z.array(roleTierSchema).default([]),
		/**
		 * Jobs a user may have generating at once, counted across every process sharing the ledger (Midjourney-style);
		 * a role tier's `maxJobs` wins. Default: no cap.
		 */
		maxJobsPerUser: z.number().int('expected a whole number').min(1, 'expected 1 or more').optional(),
		/** Jobs a user may have waiting beyond `maxJobsPerUser` (only with a cap on running jobs); more are refused. */
		maxQueuedPerUser: count.default(0),
		/** Provider credits a day for the whole bot (DAILY_CREDIT_BUDGET); decimals allowed. Default: no budget. */
		dailyCreditBudget: z.number().min(0, 'expected 0 or more credits').finite().optional(),
		/** Provider credits a day for each user (USER_DAILY_CREDIT_BUDGET). Default: no budget. */
		userDailyCreditBudget: z.number().min(0, 'expected 0 or more credits').finite().optional(),
		/** Provider credits a day for each server, all its members together (GUILD_DAILY_CREDIT_BUDGET). Default: no budget. */
		guildDailyCreditBudget: z.number().min(0, 'expected 0 or more credits').finite().optional(),
		/** Users whose limits are `ownerLimits` (unless an admin set an override for them). */
		ownerIds: z.array(snowflakeSchema).default([]),
		/** Limits of the owners. Default: 100 generations a day and the whole global cap. */
		ownerLimits: limitsSchema.partial().default({}),
		/**
		 * The bot owner's prompt blocklist: words and phrases matched as whole words after normalising (case, accents,
		 * look-alike letters, spelt-out letters), and `/.../` regular expressions. Added to the list kept in the ledger.
		 */
		promptBlocklist: z
			.array(z.string())
			.default([])
			.transform((entries, context) => {
				const normal: string[] = [];
				for (const [index, raw] of entries.entries()) {
					const checked = checkEntry(raw, true);
					if (checked.ok) normal.push(checked.entry);
					else context.addIssue({ code: 'custom', path: [index], message: checked.problem });
				}
				return [...new Set(normal)];
			}),
		/**
		 * Whether a server's admins may give its age-restricted (NSFW) channels the laxer setting (ALLOW_NSFW_LAX): there,
		 * the server's own blocklist is not applied (the owner's always is) and a provider with a laxer moderation level
		 * uses it. While false, turning it on is refused and a setting stored before has no effect.
		 */
		allowNsfwLax: z.boolean().default(false),
		/** How often temp clean-up runs on its own, in minutes (at most a year); 0 turns it off. */
		cleanupIntervalMinutes: count.max(525_600, 'expected 525600 minutes (a year) or less').default(60),
		/** A reservation whose job never committed or released stops counting after this many minutes (at most a week). */
		reservationTtlMinutes: z.number().positive().max(10_080, 'expected 10080 minutes (a week) or less').default(30),
		/** How long a process waits for another process's write lock on the ledger before failing, in ms (at most 10 minutes). */
		busyTimeoutMs: count.max(600_000, 'expected 600000 ms (10 minutes) or less').default(10_000),
		/**
		 * Reconcile when the plugin starts: `true` (recommended: a crash or a hand-deleted file is corrected; awaited
		 * only when the ledger knows no file, in the background otherwise), `'if-empty'` (only a ledger that knows
		 * no file is rebuilt: for short-lived processes such as the command-line tool), or `false`.
		 */
		reconcileOnStart: z.union([z.boolean(), z.literal('if-empty')]).default(true),
		/** The words of failures: a bot's own (naming its commands) or a translation; each left out keeps the default. */
		messages: z
			.custom<Partial<StorageMessages>>(isStorageMessages, 'expected an object of message strings and functions, as defaultStorageMessages')
			.optional()
	})
	.strict()
	.superRefine((options, context) => {
		// Waiting places without a cap on running jobs would never be used: every job starts at once.
		if (options.maxQueuedPerUser > 0 && options.maxJobsPerUser === undefined) {
			context.addIssue({
				code: 'custom',
				path: ['maxQueuedPerUser'],
				message: 'applies only with a cap on running jobs: set maxJobsPerUser (MAX_JOBS_PER_USER) as well'
			});
		}
		// Settings for a bucket without a bucket would silently store images on the local disk instead.
		if (options.storageUri !== undefined) return;
		for (const field of ['endpoint', 'credentials'] as const) {
			if (options.s3[field] !== undefined) {
				context.addIssue({
					code: 'custom',
					path: ['s3', field],
					message: 'is used only with images in a bucket: set storageUri (STORAGE_URI) to s3://bucket/prefix as well'
				});
			}
		}
	});

export type StorageOptions = z.input<typeof storageOptionsSchema>;
export type RoleTier = z.output<typeof roleTierSchema>;

export interface ResolvedStorageOptions extends Omit<z.output<typeof storageOptionsSchema>, 'ledgerUri'> {
	/** Absolute storage root. */
	storageRoot: string;
	ledgerUri: string;
}

/** Parses plugin options; throws one error naming every bad field, its value and what was expected. */
export function resolveStorageOptions(input: StorageOptions | undefined): ResolvedStorageOptions {
	const parsed = storageOptionsSchema.safeParse(input ?? {});
	if (!parsed.success) {
		throw new TypeError(`Invalid storage options:\n${describeIssues(parsed.error, input)}`);
	}
	const storageRoot = resolve(parsed.data.storageRoot);
	return {
		...parsed.data,
		storageRoot,
		ledgerUri: parsed.data.ledgerUri ?? `sqlite://${resolve(storageRoot, 'quota.sqlite')}`
	};
}

/** One line per issue: `- field: message (got value)`. Shared by the env config so both speak alike. */
export function describeIssues(
	error: z.ZodError,
	input: unknown,
	nameOf: (path: PropertyKey[]) => string = (path) => path.join('.')
): string {
	return error.issues
		.map((issue) => {
			const value = valueAt(input, issue.path);
			// Extra headers are secrets too: they usually carry a proxy's token.
			const secret = /key|password|token|secret|authorization|headers/i.test(String(issue.path.at(-1) ?? ''));
			// Never print a whole object: it may hold a key or a password beside the field that is wrong.
			const got =
				value === undefined
					? ''
					: typeof value === 'object' && value !== null
						? ` (got ${Array.isArray(value) ? 'a list' : `an object with keys ${Object.keys(value).join(', ')}`})`
						: secret
							? ` (got a value of ${String(value).length} characters)`
							: ` (got ${JSON.stringify(typeof value === 'string' ? withoutPassword(value) : value)})`;
			return `- ${nameOf(issue.path) || '(options)'}: ${issue.message}${got}`;
		})
		.join('\n');
}

/**
 * A URI's password (`postgres://user:secret@host`) replaced by `***`, wherever a value is shown back. Up to the last
 * `@`: a pasted password may hold a `/` that a URL parser would take for the path.
 */
export function withoutPassword(text: string): string {
	return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/:@\s]*:)\S*@/i, '$1***@');
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
	let current = input;
	for (const key of path) {
		if (current === null || typeof current !== 'object') return undefined;
		current = (current as Record<PropertyKey, unknown>)[key];
	}
	return current;
}
