import { resolve } from 'node:path';
import { z } from 'zod';
import { isStorageMessages, type StorageMessages } from './StorageMessages.js';

/** Discord ids are snowflakes: 17 to 20 decimal digits. */
export const snowflakeSchema = z.string().regex(/^\d{17,20}$/, 'expected a Discord id (17 to 20 digits)');

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

const megabytes = z.number().positive('expected a number of megabytes above 0').finite();
const count = z.number().int('expected a whole number').min(0, 'expected 0 or more');

/** A set of limits a role grants; the best tier a member holds wins (highest daily limit, then storage). */
export const roleTierSchema = z.object({
	/** A label shown in quota replies, e.g. "Supporter". */
	name: z.string().min(1).max(64),
	roleId: snowflakeSchema,
	dailyGens: count,
	storageMb: megabytes
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
		/** Folder holding images/, temp/, logs/ and the ledger. Relative paths resolve against the working directory. */
		storageRoot: z.string().min(1).default('shared'),
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
		/** Users whose limits are `ownerLimits` (unless an admin set an override for them). */
		ownerIds: z.array(snowflakeSchema).default([]),
		/** Limits of the owners. Default: 100 generations a day and the whole global cap. */
		ownerLimits: limitsSchema.partial().default({}),
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
	.strict();

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

/** A URI's password (`postgres://user:secret@host`) replaced by `***`, wherever a value is shown back. */
export function withoutPassword(text: string): string {
	return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/:@\s]*:)[^@/\s]*@/i, '$1***@');
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
	let current = input;
	for (const key of path) {
		if (current === null || typeof current !== 'object') return undefined;
		current = (current as Record<PropertyKey, unknown>)[key];
	}
	return current;
}
