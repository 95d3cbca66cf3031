/**
 * The quota ledger port: what is stored and what is reserved, as the storage facade needs it. Every change that
 * guards a limit is one atomic conditional statement in the backend (SQLite: one statement under its write
 * lock; PostgreSQL: the same statement serialised by a lock inside one transaction), never a read in Node
 * followed by a write. Aggregates (bytes and file counts per user, for temp, for everything) are kept in the
 * same statement as the row change, which makes a quota status a few key reads whatever the number of files.
 */
export interface QuotaLedger extends InstanceRegistry {
	/** `sqlite` or `postgres`. */
	readonly kind: string;
	/** Where it is, for people (a file path or a server address; never a password). */
	readonly location: string;

	/**
	 * Reserves one job's bytes and daily cost if, counting every live reservation, the user's job cap (for a job) and
	 * all three quota limits still hold: either it fits and is recorded, or nothing changes.
	 */
	reserve(row: ReservationRow, limits: LedgerLimits): Promise<AdmissionOutcome>;
	/**
	 * Records a stored image if its real size fits what is stored (reservations only gate admission): the
	 * reservation goes, today's count is charged `charge.cost` and the totals rise, all in one statement.
	 * Committing the same image twice records it once.
	 */
	commit(file: FileRow, commit: CommitCharge, limits: LedgerLimits): Promise<AdmissionOutcome>;
	/**
	 * Lets a job's reservation start generating when fewer than `maxRunning` of its user's jobs generate now (across
	 * every process), in one atomic step: started, or its place among the user's jobs still waiting (1: next).
	 * A reservation that is gone (expired) starts: its commit settles it as any late commit.
	 */
	startJob(reservationId: string, userId: string, maxRunning: number, now: number): Promise<JobStart>;
	/** Gives a reservation's bytes and daily cost back. Safe to call twice; true when it was still held. */
	release(reservationId: string): Promise<boolean>;
	/** Everything a quota status needs. `userId` '' for the global figures only. */
	usage(userId: string, day: string, now: number): Promise<UsageSnapshot>;

	getFile(userId: string, imageId: string): Promise<FileRow | null>;
	/** A user's saved (non-temp) images, newest first. */
	listFiles(userId: string): Promise<FileRow[]>;
	/** Removes a file's row (totals follow) and returns it, or null when there was none. */
	removeFile(userId: string, imageId: string): Promise<FileRow | null>;
	tempFilesOlderThan(createdBefore: number): Promise<FileRow[]>;
	/** The users storing the most. */
	topUsers(limit: number): Promise<UserTotal[]>;

	/** Every file row, without metadata: what reconcile compares the store with. */
	allFiles(): Promise<FileRow[]>;
	/** Applies what reconcile found, in batches that are each atomic. Returns the image ids really removed and added. */
	applyCorrections(remove: readonly FileKey[], add: readonly FileRow[]): Promise<{ removed: Set<string>; added: Set<string> }>;
	/**
	 * Recomputes the totals from the file rows (and, where a backend keeps them as counters, what live reservations
	 * hold from the reservation rows); says how many were wrong.
	 */
	rebuildTotals(): Promise<number>;
	/** The distinct owners of the reservations held now. */
	reservationOwners(): Promise<string[]>;
	/** Drops reservations that expired or belong to one of `deadOwners`; returns how many. */
	purgeReservations(now: number, deadOwners: readonly string[]): Promise<number>;
	/** Raises daily counters to at least the given counts (a rebuilt ledger's counts, from what the images were charged). */
	restoreDaily(counts: readonly DailyCount[]): Promise<void>;
	/**
	 * Raises servers' daily totals and the credit days (spent and generations, by scope: 'global', 'u:<id>',
	 * 'g:<id>') to at least the given figures, as restoreDaily does for users.
	 */
	restoreCharges(guildDaily: readonly GuildDailyCount[], creditDays: readonly CreditDayCount[]): Promise<void>;
	/** Forgets daily counters of days before `beforeDay`. */
	pruneDaily(beforeDay: string): Promise<void>;
	/** Sets today's count for a user back to 0 (an admin's reset); returns the count it had. */
	resetDaily(userId: string, day: string): Promise<number>;
	/**
	 * Takes back a daily charge whose image could not be published after all: the user's count, the server's when
	 * given, and the milli-credits it was charged (the bot's, the user's and the server's spend).
	 */
	refundDaily(userId: string, day: string, cost: number, guildId?: string | null, credits?: number): Promise<void>;
	/**
	 * Credits spent on a day and held by live reservations, in milli-credits: the bot's, the user's when `userId` is
	 * given, and the server's when `guildId` is.
	 */
	creditUsage(day: string, now: number, userId?: string, guildId?: string): Promise<CreditUsage>;
	/** Credits spent (milli-credits) and generations charged per day, oldest first, from `fromDay` on (the bot's). */
	creditHistory(fromDay: string): Promise<{ day: string; spent: number; generations: number }[]>;
	/** The budget set for a scope ('global', 'u:<user id>' or 'g:<server id>'), in milli-credits, or null (the configuration's applies). */
	creditBudget(scope: string): Promise<number | null>;
	/** Sets (or, with null, clears) a scope's budget. */
	setCreditBudget(scope: string, milli: number | null): Promise<void>;
	/** Generations charged to a server on a day, plus those of its live reservations (running now). */
	guildDailyUsed(guildId: string, day: string, now: number): Promise<number>;

	getOverride(userId: string, now: number): Promise<LimitOverride | null>;
	/**
	 * Changes a user's override atomically: each field given replaces that field, each field left out keeps what
	 * was set before; `null` clears the whole override. Returns the override now in force.
	 */
	setOverride(userId: string, changes: LimitOverride | null): Promise<LimitOverride | null>;

	/** The entries of the prompt blocklists of `guildIds` ('' is the bot owner's list), oldest first. */
	blocklist(guildIds: readonly string[]): Promise<BlocklistRow[]>;
	/** Adds entries to one list (one already there stays as it was); returns the entries that were new. */
	addToBlocklist(guildId: string, entries: readonly string[], now: number): Promise<string[]>;
	/** Removes entries from one list; returns the entries that were there. */
	removeFromBlocklist(guildId: string, entries: readonly string[]): Promise<string[]>;

	/** Blocks (or blocks again, replacing reason and expiry) a user bot-wide (`guildId` '') or in one server. */
	setBlock(block: BlockRow): Promise<void>;
	/** Lifts a block; returns it, or null when there was none. */
	removeBlock(userId: string, guildId: string): Promise<BlockRow | null>;
	/** The user's blocks in `guildIds` ('' bot-wide), expired ones included (the caller knows the time). */
	blocksOf(userId: string, guildIds: readonly string[]): Promise<BlockRow[]>;

	/** A server's settings, or null when it never changed any (the defaults apply). */
	guildSettings(guildId: string): Promise<GuildSettingsRow | null>;
	/**
	 * Changes a server's settings in one atomic upsert: each field given replaces that field, each left out keeps
	 * what was set before (two admins changing two fields at once both land). Returns the settings now in force.
	 * With `expected`, the change applies only while that gate still holds the ids given (a compare-and-set, for an
	 * edit computed from the list as it was read); null when it no longer does, and nothing changed.
	 */
	changeGuildSettings(guildId: string, changes: GuildSettingsChange, expected?: GateExpectation): Promise<GuildSettingsRow | null>;

	/**
	 * Records that this ledger describes the image store `storeId`, if it describes none yet, and says which store
	 * it describes. Reads first, so a ledger already claimed is not written to.
	 */
	claimStore(storeId: string): Promise<string>;
	/**
	 * Whether the ledger in use is still the one its URI names: null when it is, otherwise what happened (a file
	 * deleted or replaced while the process runs, which would leave this process and every other on two ledgers).
	 */
	verify(): Promise<string | null>;
	/**
	 * Runs `task` while no other process (of any host sharing the ledger) runs a task of the same `purpose`:
	 * one reconcile at a time. A ledger that only one host can use may simply run it.
	 */
	exclusive<T>(purpose: string, task: () => Promise<T>): Promise<T>;
	/**
	 * A place in a provider's rate window shared by every process using the ledger (a provider's limit belongs to its
	 * key, not to a process): granted (null) when fewer than `limit` places of `key` count now, otherwise the ms to
	 * wait before asking again. A place counts from its claim until `windowMs` after it ended, or `maxHoldMs` after
	 * its claim if its process never ended it. One atomic step, on the ledger's clock.
	 */
	claimRatePlace(place: RatePlaceClaim): Promise<number | null>;
	/** The request holding `placeId` has ended: its place frees `windowMs` from now. */
	endRatePlace(placeId: string, windowMs: number): Promise<void>;

	close(): Promise<void>;
}

/** Limits in force for one request, already resolved (defaults, tiers, overrides). */
export interface LedgerLimits {
	dailyGens: number;
	userBytes: number;
	globalBytes: number;
	/** Jobs of the user admitted at once (generating and waiting); no cap: Number.MAX_SAFE_INTEGER. */
	jobs: number;
	/** Generations a day in the reservation's server, all members together; no cap: Number.MAX_SAFE_INTEGER. */
	guildDailyGens: number;
	/**
	 * Provider credits a day, in milli-credits: the whole bot's, the user's, and the reservation's server's (all its
	 * members together); no budget: Number.MAX_SAFE_INTEGER.
	 */
	globalCredits: number;
	userCredits: number;
	guildCredits: number;
}

/** `GUILD_DAILY`: the server's daily total is reached (users see it as a DAILY_LIMIT, worded for the server). */
export type LimitFailure = 'TOO_MANY_JOBS' | 'DAILY_LIMIT' | 'GUILD_DAILY' | 'USER_QUOTA' | 'GLOBAL_QUOTA' | 'CREDIT_BUDGET';

export type JobStart = { started: true } | { started: false; position: number };

export type AdmissionOutcome = { ok: true } | { ok: false; failed: LimitFailure };

export interface ReservationRow {
	id: string;
	userId: string;
	day: string;
	bytes: number;
	cost: number;
	temp: boolean;
	/** A generation job (counted against the user's job cap), not a plain save. */
	job: boolean;
	/** The server it is asked from (its daily total counts it), or null. */
	guildId: string | null;
	/** The provider credits the job may spend, in milli-credits (integers: decimals are charged exactly). */
	credits: number;
	now: number;
	expiresAt: number;
	/** Who holds it: the process that made it, so a dead process's reservations can be released. */
	owner: string;
}

/** What a commit settles: the reservation it ends (if any) and the daily charge for the image. */
export interface CommitCharge {
	reservationId: string | null;
	day: string;
	cost: number;
	/** The server whose daily total is charged too, or null. */
	guildId: string | null;
	/** Milli-credits the job spent, charged to today's credit spend (the bot's and the user's). */
	credits: number;
}

export interface RatePlaceClaim {
	id: string;
	/** Which limit (a hash of the provider, its address and its key; never a credential). */
	key: string;
	limit: number;
	windowMs: number;
	maxHoldMs: number;
}

export interface DailyCount {
	userId: string;
	day: string;
	used: number;
}

export interface GuildDailyCount {
	guildId: string;
	day: string;
	used: number;
}

/** A credit day's figures: milli-credits spent and generations charged. */
export interface CreditDayCount {
	scope: string;
	day: string;
	spent: number;
	generations: number;
}

export interface FileKey {
	userId: string;
	imageId: string;
}

export interface FileRow extends FileKey {
	temp: boolean;
	ext: string;
	bytes: number;
	createdAt: number;
	name: string;
	/** JSON text of the image's metadata, or null. */
	metadata: string | null;
}

export interface UsageSnapshot {
	globalBytes: number;
	globalFiles: number;
	tempBytes: number;
	tempFiles: number;
	userBytes: number;
	userFiles: number;
	dailyUsed: number;
	/** Generations reserved today and not yet committed or released. */
	dailyPending: number;
	reservedGlobalBytes: number;
	reservedUserBytes: number;
}

export interface UserTotal {
	userId: string;
	bytes: number;
	files: number;
}

/** What an admin set for one user; a missing field falls back to tiers and defaults. */
export interface LimitOverride {
	dailyGens?: number;
	storageMb?: number;
}

/** One entry of a prompt blocklist, in normal form (see controls/promptBlocklist.ts). */
export interface BlocklistRow {
	/** '' for the bot owner's list, else the server whose list it is. */
	guildId: string;
	entry: string;
	addedAt: number;
}

/** A user who may not generate: bot-wide (`guildId` '') or in one server, until a time or until lifted. */
export interface BlockRow {
	userId: string;
	guildId: string;
	reason: string | null;
	/** When the block ends (ms); null: until someone lifts it. */
	until: number | null;
	blockedAt: number;
}

/** Today's credits, in milli-credits: spent (committed images) and reserved (jobs running now). */
export interface CreditUsage {
	globalSpent: number;
	globalReserved: number;
	userSpent: number;
	userReserved: number;
	guildSpent: number;
	guildReserved: number;
}

/** What a server's admins set for it (within the owner's caps). */
export interface GuildSettingsRow {
	guildId: string;
	/** Generation on or off in the server. */
	enabled: boolean;
	/** The channels where generation works; null: every channel. */
	channelIds: string[] | null;
	/** The roles allowed to generate; null: everyone. */
	roleIds: string[] | null;
	/** Generations per member per UTC day in this server (the lower of this and the owner's limit applies); null: the owner's. */
	memberDailyGens: number | null;
	/** Generations per UTC day in this server, all members together; null: no total. */
	guildDailyGens: number | null;
	/**
	 * Whether its age-restricted (NSFW) channels use the laxer setting: the server's own blocklist off there, a provider's
	 * laxer moderation level. Applies only while the bot's owner allows it (ALLOW_NSFW_LAX).
	 */
	nsfwLax: boolean;
}

/** What a server's gate must still hold for a change to apply (null: no restriction). */
export interface GateExpectation {
	gate: 'channelIds' | 'roleIds';
	ids: readonly string[] | null;
}

export type GuildSettingsChange = Partial<Omit<GuildSettingsRow, 'guildId'>>;

/** A running process that holds reservations or writes images: its lease is its heartbeat. */
export interface InstanceRow {
	/** 8 hexadecimal characters, random per process start: what reservations and partial writes name. */
	id: string;
	host: string;
	pid: number;
	startedAt: number;
	heartbeatAt: number;
}

/** The instance registry every ledger backend keeps beside the quotas. */
export interface InstanceRegistry {
	registerInstance(instance: InstanceRow): Promise<void>;
	/** Renews the lease; false when the row is gone (another process judged this one dead and removed it). */
	heartbeatInstance(id: string, now: number): Promise<boolean>;
	/** Removes the instance and the reservations it still holds (a clean shutdown). */
	removeInstance(id: string): Promise<void>;
	instances(): Promise<InstanceRow[]>;
	/** Forgets instances judged dead (their reservations are purged separately). */
	removeInstances(ids: readonly string[]): Promise<void>;
}
