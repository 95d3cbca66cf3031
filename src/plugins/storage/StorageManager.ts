import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock, utcDay, type Clock } from './clock.js';
import { Controls } from './controls/Controls.js';
import { CreditBudgets, toMilli, type CreditLine } from './CreditBudgets.js';
import { EventLog } from './EventLog.js';
import { setLongInterval, type RepeatingTimer } from './longTimer.js';
import { isImageId, isSnowflake, isValidImageName, mimeTypeOf, newImageId, sniffImageExtension, type ImageExtension } from './ids.js';
import type { ImageStore, StagedImage } from './images/ImageStore.js';
import { isDiskFull } from './images/local/diskSpace.js';
import { openImageStore } from './images/openImageStore.js';
import { openLedger } from './ledger/openLedger.js';
import { parseMetadataText, serializeSidecar, type Charge, type ImageRef } from './images/records.js';
import { Instance } from './Instance.js';
import type { FileRow, LedgerLimits, LimitFailure, LimitOverride, QuotaLedger, UserTotal } from './ledger/QuotaLedger.js';
import { resolveLimits, type EffectiveLimits } from './limits.js';
import { resolveStorageOptions, type ResolvedStorageOptions, type StorageOptions } from './options.js';
import { buildQuotaStatus, type QuotaStatus } from './QuotaStatus.js';
import { Reconciler, type ReconcileReport } from './Reconciler.js';
import { StorageConfigError } from './StorageConfigError.js';
import { defaultStorageMessages, type StorageMessages } from './StorageMessages.js';
import { failure, quotaDenial, type StorageFailure, type StorageResult } from './StorageResult.js';
import { bytesToMb, mbToBytes } from './units.js';

export type { ReconcileReport } from './Reconciler.js';

/** The three quota rules, one per precondition. */
export type QuotaRule = 'daily' | 'user' | 'global';

/** Every rule, in the order the bot's commands check them (the order a reservation reports them in too). */
export const QUOTA_RULES: readonly QuotaRule[] = ['daily', 'user', 'global'];

/** Who is asking, beyond the user id: role ids pick a role tier. */
export interface QuotaSubject {
	roleIds?: readonly string[];
	/**
	 * What the checks are for (a Discord interaction): every `checkQuota` with the same object reads the status once
	 * and evaluates its rules against that one read, so the three quota preconditions and the job's own check cost one
	 * ledger read per command. Only the read-only gate shares it; `reserve` always asks the ledger itself.
	 */
	request?: object;
	/** The server the request comes from: its daily limit per member applies when it is lower than the user's own. */
	guildId?: string | null;
}

export interface ReserveRequest extends QuotaSubject {
	/** Bytes the image will take; default: the configured estimate (IMAGE_GEN_SIZE_MB). Room for its metadata file is added. */
	estimatedBytes?: number;
	/** Generations this job uses from the daily allowance; default 1. */
	cost?: number;
	/** The image will be a temp file (counts toward the global cap only). */
	temp?: boolean;
	/** How long the reservation counts if neither committed nor released; default `reservationTtlMinutes`. */
	holdMs?: number;
	/** A generation job: the user's job caps apply (`startJob` before the provider call). Default false (a plain save). */
	job?: boolean;
	/** Provider credits the job may spend (decimals charged exactly), against the daily credit budgets. Default 0. */
	credits?: number;
}

/** Quota held for one job between the check and the save. Commit it with saveImage, or release it. */
export interface Reservation {
	readonly id: string;
	readonly userId: string;
	readonly day: string;
	readonly estimatedBytes: number;
	readonly cost: number;
	readonly temp: boolean;
	readonly createdAt: number;
	readonly expiresAt: number;
	/** The limits that admitted it, reused when it commits. */
	readonly limits: LedgerLimits;
	/** For a job: how many of the user's jobs may generate at once (null: no cap, it may start at once). */
	readonly maxRunning: number | null;
	/** The server it was asked from (its daily total is charged too), or null. */
	readonly guildId: string | null;
	/** Milli-credits it may spend, charged when it commits. */
	readonly credits: number;
}

export interface SaveImageRequest extends QuotaSubject {
	data: Uint8Array;
	userId: string;
	/** A display name; letters, digits, space, dot, dash, underscore (64 at most). Default: the image id. */
	name?: string;
	temp?: boolean;
	/** Prompt, seed, style, provider...: stored beside the image and listed with it. */
	metadata?: Record<string, unknown>;
	/** The reservation this image commits. Without one, the save is checked against the byte quotas only. */
	reservation?: Reservation;
}

export interface StoredImage {
	id: string;
	userId: string;
	name: string;
	/** Bytes on disk, the metadata file included: what counts against quotas. */
	bytes: number;
	createdAt: Date;
	temp: boolean;
	mimeType: string;
	path: string;
	metadata: Record<string, unknown>;
}

export interface CleanupResult {
	deleted: number;
	freedMb: number;
}

export interface StorageReport {
	global: QuotaStatus['global'];
	tempFiles: number;
	topUsers: (UserTotal & { usedMb: number })[];
	/** Provider credits: today's spend (with what running jobs hold and the budget) and the last 30 days, oldest first. */
	credits: { today: CreditLine; last30Days: { day: string; spent: number; generations: number }[] };
}

export interface StorageLogger {
	info(message: string, details?: Record<string, unknown>): void;
	warn(message: string, details?: Record<string, unknown>): void;
	error(message: string, details?: Record<string, unknown>): void;
}

export interface StorageManagerDependencies {
	clock?: Clock;
	logger?: StorageLogger;
}

/**
 * Room reserved on top of an image's estimate for the metadata file saved beside it (a few hundred bytes,
 * more with a long prompt), so an image of the estimated size always commits.
 */
export const METADATA_ALLOWANCE = 4096;
/** A rate place whose request never said it ended (its process died) stops counting after this. */
const RATE_PLACE_MAX_HOLD_MS = 10 * 60_000;
/** How often the storage checks that its ledger file is still the one in use. */
const LEDGER_CHECK_MS = 10_000;
/** Waits between attempts of a start-up reconcile that failed; the last repeats. */
const STARTUP_RECONCILE_RETRY_MS = [1000, 5000, 30_000, 300_000] as const;
const silentLogger: StorageLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * Quota-managed image storage: the service on `container.storage`. A small facade over two ports: the quota
 * ledger (what is stored and reserved, so a status is O(1)) and the image store (the bytes; the source of
 * truth, from which `reconcile()` rebuilds the ledger).
 *
 * The embedded default keeps both under the storage root: `images/users/<userId>/<imageId>.<ext>` (+
 * `<imageId>.json` with the metadata), `temp/`, `logs/events.jsonl`, and the ledger `quota.sqlite`. With an S3
 * `storageUri` the images live in the bucket under the same layout, and the root keeps only the logs (and a SQLite
 * ledger, when that is the ledger).
 */
export class StorageManager {
	public readonly options: ResolvedStorageOptions;
	/** The owners' controls (blocks, gates, blocklists, server settings), kept in the same ledger. */
	public readonly controls: Controls;
	/** The daily provider-credit budgets (the bot's and each user's) and today's spend. */
	public readonly credits: CreditBudgets;
	#ledger: QuotaLedger;
	readonly #store: ImageStore;
	readonly #instance: Instance;
	readonly #events: EventLog;
	readonly #clock: Clock;
	readonly #logger: StorageLogger;
	readonly #messages: StorageMessages;
	#cleanupTimer: RepeatingTimer | null = null;
	#closed = false;
	#startupReconcile: Promise<ReconcileReport | null> = Promise.resolve(null);
	#reconcileRetry: NodeJS.Timeout | null = null;
	#retrying: Promise<unknown> | null = null;
	#watchdog: NodeJS.Timeout | null = null;
	#replacing: Promise<boolean> | null = null;
	/** Ledgers replaced while in use, closed with this storage (requests may still be finishing on them). */
	readonly #retired: QuotaLedger[] = [];
	/** The gate's status per request (an interaction), for as long as the request object lives. */
	readonly #gateStatuses = new WeakMap<object, { userId: string; status: Promise<QuotaStatus> }>();

	private constructor(options: ResolvedStorageOptions, ledger: QuotaLedger, store: ImageStore, dependencies: StorageManagerDependencies) {
		this.options = options;
		this.#ledger = ledger;
		this.#store = store;
		this.#clock = dependencies.clock ?? systemClock;
		this.#logger = dependencies.logger ?? silentLogger;
		this.#messages = { ...defaultStorageMessages, ...options.messages };
		this.#instance = new Instance(ledger, this.#clock);
		this.#events = new EventLog(`${options.storageRoot}/logs`, this.#clock);
		// The ledger is read through a function: a ledger replaced while in use (see verifyLedger) is followed.
		this.controls = new Controls(() => this.#ledger, this.#clock, this.#events, this.#messages, {
			promptBlocklist: options.promptBlocklist,
			allowNsfwLax: options.allowNsfwLax
		});
		this.credits = new CreditBudgets(() => this.#ledger, this.#clock, {
			...(options.dailyCreditBudget === undefined ? {} : { dailyCreditBudget: options.dailyCreditBudget }),
			...(options.userDailyCreditBudget === undefined ? {} : { userDailyCreditBudget: options.userDailyCreditBudget }),
			...(options.guildDailyCreditBudget === undefined ? {} : { guildDailyCreditBudget: options.guildDailyCreditBudget })
		});
		this.#watchdog = setInterval(() => void this.verifyLedger().catch(() => undefined), LEDGER_CHECK_MS);
		this.#watchdog.unref();
	}

	/** Validates options, prepares the store, opens the ledger and (by default) reconciles it with the store. */
	public static async open(options: StorageOptions | ResolvedStorageOptions = {}, dependencies: StorageManagerDependencies = {}) {
		// Parsing is idempotent, so already-resolved options go through the same check.
		const resolved = resolveStorageOptions(options);
		await mkdir(join(resolved.storageRoot, 'logs'), { recursive: true });
		const store = await openImageStore(resolved);
		try {
			await store.prepare();
		} catch (error) {
			await store.close().catch(() => undefined);
			throw error;
		}
		const ledger = await openLedger(resolved, store, dependencies.logger ?? silentLogger);
		try {
			await checkLedgerDescribes(ledger, store);
		} catch (error) {
			await ledger.close().catch(() => undefined);
			throw error;
		}
		const manager = new StorageManager(resolved, ledger, store, dependencies);
		if (resolved.reconcileOnStart) {
			// A ledger that knows no files (new, or deleted by hand) would report an empty disk: wait for the
			// rebuild. Otherwise the ledger is right but for a crash's worth of drift: start at once and
			// correct it in the background, so a large store does not hold the bot back.
			const empty = (await ledger.usage('', '', 0)).globalFiles === 0;
			if (resolved.reconcileOnStart === 'if-empty' && !empty) return manager;
			manager.#startupReconcile = manager.#reconcileAtStartup(0);
			if (empty) await manager.#startupReconcile;
		}
		return manager;
	}

	/**
	 * The start-up reconcile. One that fails (the ledger locked past the busy time-out, a folder that cannot be
	 * read) is tried again in the background after 1 s, 5 s, 30 s, then every 5 minutes until it succeeds, so a
	 * ledger that missed its rebuild does not stay wrong until the next restart.
	 */
	async #reconcileAtStartup(attempt: number): Promise<ReconcileReport | null> {
		try {
			const report = await this.reconcile();
			if (report.added + report.removed + report.resized + report.totalsFixed + report.partialsRemoved + report.orphansRemoved > 0) {
				this.#logger.warn('Storage ledger corrected from the image store', { ...report });
			}
			return report;
		} catch (error) {
			if (this.#closed) return null;
			const delayMs = STARTUP_RECONCILE_RETRY_MS[Math.min(attempt, STARTUP_RECONCILE_RETRY_MS.length - 1)] as number;
			this.#logger.error(`Start-up reconcile failed; the ledger is used as it is and reconcile runs again in ${delayMs / 1000} s`, {
				error: String(error)
			});
			this.#reconcileRetry = setTimeout(() => (this.#retrying = this.#reconcileAtStartup(attempt + 1)), delayMs);
			this.#reconcileRetry.unref();
			return null;
		}
	}

	/** The start-up reconcile's report once it has run (null when it was off or its first attempt failed). */
	public whenReconciled(): Promise<ReconcileReport | null> {
		return this.#startupReconcile;
	}

	// ---------------------------------------------------------------- quota

	/** The user's storage, the global cap and today's allowance, with the limits in force. O(1) in stored files. */
	public async getQuotaStatus(userId: string, subject: QuotaSubject = {}): Promise<QuotaStatus> {
		const now = this.#clock();
		const limits = await this.#limitsFor(userId, subject, now);
		const usage = await this.#ledger.usage(userId, utcDay(now), now);
		return buildQuotaStatus(usage, limits, mbToBytes(this.options.maxGlobalStorageMb), mbToBytes(this.options.estimatedImageMb), now);
	}

	/**
	 * Quota rules as a quick, read-only gate (one rule is what each of the DailyLimit, UserStorage and
	 * GlobalStorage preconditions runs; several are checked in the order given against one status read):
	 * denies with the message a user sees. The reservation in `reserve` remains the real, atomic gate; this
	 * lets a bot refuse before it does any work for the request.
	 */
	public async checkQuota(
		userId: string,
		rules: QuotaRule | readonly QuotaRule[],
		subject: QuotaSubject = {}
	): Promise<StorageResult<{ status: QuotaStatus }>> {
		if (!isSnowflake(userId)) return failure('INVALID_NAME', this.#messages.invalidUser);
		const status = await this.#gateStatus(userId, subject);
		for (const rule of typeof rules === 'string' ? [rules] : rules) {
			const reason = rule === 'daily' ? 'DAILY_LIMIT' : rule === 'user' ? 'USER_QUOTA' : 'GLOBAL_QUOTA';
			const allowed = rule === 'daily' ? status.daily.allowed : rule === 'user' ? status.user.allowed : status.global.allowed;
			if (allowed) continue;
			const denial = quotaDenial(reason, status, this.#clock(), this.#messages);
			this.#events.append({ type: 'denial', userId, reason, message: denial.message, stage: 'check' });
			return denial;
		}
		return { ok: true, status };
	}

	/**
	 * Holds quota for one job before any paid call: its estimated bytes against the user's and the
	 * global caps, and its cost against today's allowance. Atomic across requests and processes.
	 */
	public reserve(userId: string, request: ReserveRequest = {}): Promise<StorageResult<{ reservation: Reservation }>> {
		return this.#reserveWithoutThrowing(userId, request);
	}

	/** Ledger errors (a lock held past the busy timeout, a closed ledger) become an IO value, never a throw. */
	async #reserveWithoutThrowing(
		userId: string,
		request: ReserveRequest,
		exactBytes?: number
	): Promise<StorageResult<{ reservation: Reservation }>> {
		if (!isSnowflake(userId)) return failure('INVALID_NAME', this.#messages.invalidUser);
		try {
			return await this.#reserve(userId, request, exactBytes);
		} catch (error) {
			this.#ledgerFailed('reserve', userId, error);
			return failure(
				'IO',
				(await isDiskFull(error, this.options.storageRoot)) ? this.#messages.diskFull : this.#messages.ledgerUnavailable
			);
		}
	}

	/** `exactBytes`: a plain save knows its size to the byte, metadata included, so nothing is added. */
	async #reserve(userId: string, request: ReserveRequest, exactBytes?: number): Promise<StorageResult<{ reservation: Reservation }>> {
		const owner = await this.#instance.ensureRegistered();
		const now = this.#clock();
		const limits = await this.#limitsFor(userId, request, now);
		const job = request.job === true;
		const guildId = request.guildId && isSnowflake(request.guildId) ? request.guildId : null;
		const guildDaily = guildId ? (await this.controls.settingsOf(guildId)).guildDailyGens : null;
		const credits = Math.max(0, toMilli(request.credits ?? 0));
		// Budgets are read only for a job that costs credits: a free provider (A1111, the preview) pays no lookups.
		const budgets = credits > 0 ? await this.credits.limits(userId, guildId) : undefined;
		const ledgerLimits = this.#ledgerLimits(limits, guildDaily, budgets);
		const reservation: Reservation = {
			id: randomBytes(12).toString('hex'),
			userId,
			day: utcDay(now),
			estimatedBytes:
				exactBytes ?? Math.max(0, Math.ceil(request.estimatedBytes ?? mbToBytes(this.options.estimatedImageMb))) + METADATA_ALLOWANCE,
			cost: Math.max(0, Math.floor(request.cost ?? 1)),
			temp: request.temp ?? false,
			createdAt: now,
			expiresAt: now + Math.max(this.options.reservationTtlMinutes * 60_000, request.holdMs ?? 0),
			limits: ledgerLimits,
			maxRunning: job ? limits.maxJobs : null,
			guildId,
			credits
		};
		const outcome = await this.#ledger.reserve(
			{
				id: reservation.id,
				userId,
				day: reservation.day,
				bytes: reservation.estimatedBytes,
				cost: reservation.cost,
				temp: reservation.temp,
				job,
				guildId,
				credits,
				now,
				expiresAt: reservation.expiresAt,
				owner
			},
			ledgerLimits
		);
		if (!outcome.ok) return this.#deny(outcome.failed, userId, request);
		return { ok: true, reservation };
	}

	/**
	 * Lets a job's reservation start generating when the user's cap on running jobs allows (counted across every
	 * process): started, or its place among the user's waiting jobs (ask again later). Ledger errors start it: the
	 * reservation already admitted it, and a wait that never ends would be worse than one job too many.
	 */
	public async startJob(reservation: Reservation): Promise<{ started: true } | { started: false; position: number }> {
		if (reservation.maxRunning === null) return { started: true };
		try {
			return await this.#ledger.startJob(reservation.id, reservation.userId, reservation.maxRunning, this.#clock());
		} catch (error) {
			this.#ledgerFailed('startJob', reservation.userId, error);
			return { started: true };
		}
	}

	/** Gives a reservation back (the job failed or was cancelled): its bytes and daily cost are refunded. */
	public async release(reservation: Reservation): Promise<void> {
		await this.#ledger.release(reservation.id);
	}

	/**
	 * Changes a user's limit override (it survives restarts): a field given replaces that field, a field left
	 * out keeps its earlier override; `null` clears the override, so tiers and defaults apply again.
	 */
	public async setUserLimits(
		userId: string,
		changes: LimitOverride | null
	): Promise<StorageResult<{ override: LimitOverride | null; status: QuotaStatus }>> {
		if (!isSnowflake(userId)) return failure('INVALID_NAME', this.#messages.invalidUser);
		const override = await this.#ledger.setOverride(userId, changes);
		this.#events.append({ type: 'limits', userId, override });
		return { ok: true, override, status: await this.getQuotaStatus(userId) };
	}

	/**
	 * An owner's reset of a user: `daily` gives today's allowance back, `storage` deletes every saved image
	 * (as `deleteUserImages`). One call for the bot's /quota-admin reset and the command-line tool's `reset`.
	 */
	public async resetUser(
		userId: string,
		what: { daily?: boolean; storage?: boolean }
	): Promise<
		StorageResult<{
			daily: { previous: number } | null;
			storage: { deleted: StoredImage[]; missing: string[]; failed: StorageFailure[]; freedMb: number } | null;
		}>
	> {
		let daily: { previous: number } | null = null;
		if (what.daily) {
			const reset = await this.resetDailyCount(userId);
			if (!reset.ok) return reset;
			daily = { previous: reset.previous };
		}
		let storage = null;
		if (what.storage) {
			const removed = await this.deleteUserImages(userId);
			if (!removed.ok) return removed;
			const { ok: _ok, ...rest } = removed;
			storage = rest;
		}
		return { ok: true, daily, storage };
	}

	/** Gives a user today's allowance back. Returns how many generations they had used. */
	public async resetDailyCount(userId: string): Promise<StorageResult<{ previous: number }>> {
		if (!isSnowflake(userId)) return failure('INVALID_NAME', this.#messages.invalidUser);
		const previous = await this.#ledger.resetDaily(userId, utcDay(this.#clock()));
		this.#events.append({ type: 'limits', userId, resetDaily: previous });
		return { ok: true, previous };
	}

	// ---------------------------------------------------------------- images

	/**
	 * Stores an image atomically (temp name, fsync, rename) with its metadata beside it. With a
	 * reservation it commits that reservation at the image's real size; without one it is checked
	 * against the byte quotas. A failure stores nothing and releases the reservation.
	 */
	public async saveImage(request: SaveImageRequest): Promise<StorageResult<{ image: StoredImage }>> {
		const { userId, reservation } = request;
		const temp = request.temp ?? reservation?.temp ?? false;
		const invalid = this.#validateSave(request);
		if (invalid) {
			// Only the caller's own reservation is theirs to give back.
			if (reservation?.userId === userId) await this.release(reservation).catch(() => undefined);
			return invalid;
		}
		const ext = sniffImageExtension(request.data) as ImageExtension;
		const now = this.#clock();
		const imageId = newImageId(now);
		const name = request.name ?? imageId;
		const metadata = request.metadata ?? {};
		const ref: ImageRef = { userId, imageId, temp, ext };
		// A plain save is charged nothing; a reservation's job is charged its cost on the day it was admitted.
		const charge: Charge = reservation
			? {
					day: reservation.day,
					cost: reservation.cost,
					...(reservation.guildId ? { guildId: reservation.guildId } : {}),
					...(reservation.credits > 0 ? { credits: reservation.credits } : {})
				}
			: { day: utcDay(now), cost: 0 };
		const sidecar = serializeSidecar({ id: imageId, userId, name, createdAt: now, temp, ext, metadata, charge });
		const bytes = request.data.byteLength + Buffer.byteLength(sidecar);

		let held = reservation;
		if (!held) {
			const reserved = await this.#reserveWithoutThrowing(userId, { cost: 0, temp, roleIds: request.roleIds }, bytes);
			if (!reserved.ok) return reserved;
			held = reserved.reservation;
		}

		let staged: StagedImage;
		try {
			staged = await this.#store.stage(ref, request.data, sidecar, await this.#instance.ensureRegistered());
		} catch (error) {
			return this.#abandonSave(null, held, error, userId);
		}

		const row: FileRow = { imageId, userId, temp, ext, bytes, createdAt: now, name, metadata: JSON.stringify(metadata) };
		let committed: Awaited<ReturnType<QuotaLedger['commit']>>;
		try {
			committed = await this.#ledger.commit(
				row,
				{ reservationId: held.id, day: held.day, cost: held.cost, guildId: held.guildId, credits: held.credits },
				held.limits
			);
		} catch (error) {
			return this.#abandonSave(staged, held, error, userId);
		}
		if (!committed.ok) {
			await staged.discard().catch(() => undefined);
			await this.release(held).catch(() => undefined);
			return this.#deny(committed.failed, userId, request);
		}

		try {
			await staged.publish();
		} catch (error) {
			// Undo in the order a delete uses (files, then the row), so a crash here cannot leave a visible image unrecorded.
			await this.#store.remove(ref).catch(() => undefined);
			await this.#ledger.removeFile(userId, imageId).catch(() => undefined);
			await this.#ledger.refundDaily(userId, held.day, held.cost, held.guildId, held.credits).catch(() => undefined);
			return this.#abandonSave(staged, null, error, userId);
		}

		this.#events.append({ type: 'save', userId, imageId, bytes, temp, reservation: reservation ? reservation.id : null });
		return { ok: true, image: this.#toStoredImage(row, metadata) };
	}

	/** Where an image of the user's lives, with its details; NOT_FOUND for another user's or a missing image. */
	public async getImagePath(userId: string, imageId: string): Promise<StorageResult<{ path: string; image: StoredImage }>> {
		const row = await this.#findRow(userId, imageId);
		if (isFailure(row)) return row;
		const present = await this.#askStore('exists', userId, () => this.#store.exists(refOf(row)));
		if (isFailure(present)) return present;
		if (!present) return failure('NOT_FOUND', this.#messages.notFound);
		const image = this.#toStoredImage(row, parseMetadataText(row.metadata));
		return { ok: true, path: image.path, image };
	}

	/** An image of the user's with its bytes (for an upscale, a variation, or showing it again). */
	public async readImage(userId: string, imageId: string): Promise<StorageResult<{ data: Buffer; image: StoredImage }>> {
		const row = await this.#findRow(userId, imageId);
		if (isFailure(row)) return row;
		const data = await this.#askStore('read', userId, () => this.#store.read(refOf(row)));
		if (isFailure(data)) return data;
		if (!data) return failure('NOT_FOUND', this.#messages.notFound);
		return { ok: true, data, image: this.#toStoredImage(row, parseMetadataText(row.metadata)) };
	}

	/** The user's saved images, newest first. */
	public async getUserImages(userId: string): Promise<StorageResult<{ images: StoredImage[] }>> {
		if (!isSnowflake(userId)) return failure('INVALID_NAME', this.#messages.invalidUser);
		const rows = await this.#ledger.listFiles(userId);
		return { ok: true, images: rows.map((row) => this.#toStoredImage(row, parseMetadataText(row.metadata))) };
	}

	/** Deletes one of the user's images and gives its bytes back. */
	public async deleteImage(userId: string, imageId: string): Promise<StorageResult<{ image: StoredImage; freedMb: number }>> {
		const found = await this.getImagePath(userId, imageId);
		if (!found.ok) {
			// A row whose file vanished is still the user's: drop the row so the quota is right again.
			if (found.reason === 'NOT_FOUND' && isSnowflake(userId) && isImageId(imageId)) await this.#ledger.removeFile(userId, imageId);
			return found;
		}
		const removed = await this.#removeImage(found.image);
		if (!removed) return failure('IO', this.#messages.ioDelete);
		this.#events.append({ type: 'delete', userId, imageId, bytes: found.image.bytes });
		return { ok: true, image: found.image, freedMb: bytesToMb(found.image.bytes) };
	}

	/**
	 * Deletes every saved image of a user (an owner's storage reset), each as `deleteImage` would: file first,
	 * then its row, its bytes given back. Images whose file was already gone are reported as missing.
	 */
	public async deleteUserImages(
		userId: string
	): Promise<StorageResult<{ deleted: StoredImage[]; missing: string[]; failed: StorageFailure[]; freedMb: number }>> {
		const listed = await this.getUserImages(userId);
		if (!listed.ok) return listed;
		const deleted: StoredImage[] = [];
		const missing: string[] = [];
		const failed: StorageFailure[] = [];
		for (const image of listed.images) {
			const result = await this.deleteImage(userId, image.id);
			if (result.ok) deleted.push(result.image);
			else if (result.reason === 'NOT_FOUND') missing.push(image.id);
			else failed.push(result);
		}
		const freedBytes = deleted.reduce((sum, image) => sum + image.bytes, 0);
		return { ok: true, deleted, missing, failed, freedMb: bytesToMb(freedBytes) };
	}

	/** Removes temp files older than `cleanupDays`. */
	public async cleanupOldFiles(): Promise<CleanupResult> {
		const cutoff = this.#clock() - this.options.cleanupDays * 86_400_000;
		let deleted = 0;
		let freedBytes = 0;
		for (const row of await this.#ledger.tempFilesOlderThan(cutoff)) {
			if (await this.#removeImage(this.#toStoredImage(row, {}))) {
				deleted++;
				freedBytes += row.bytes;
			}
		}
		const result = { deleted, freedMb: bytesToMb(freedBytes) };
		this.#events.append({ type: 'cleanup', ...result, olderThanDays: this.options.cleanupDays });
		return result;
	}

	/** Global use, temp use, file count and the users storing the most. */
	public async getReport(top = 10): Promise<StorageReport> {
		const now = this.#clock();
		const usage = await this.#ledger.usage('', utcDay(now), now);
		const limits: EffectiveLimits = { dailyGens: 0, storageBytes: 0, maxJobs: null, maxQueued: 0, source: 'default' };
		const status = buildQuotaStatus(
			usage,
			limits,
			mbToBytes(this.options.maxGlobalStorageMb),
			mbToBytes(this.options.estimatedImageMb),
			now
		);
		const topUsers = (await this.#ledger.topUsers(top)).map((user) => ({ ...user, usedMb: bytesToMb(user.bytes) }));
		const today = await this.credits.today();
		const last30Days = await this.credits.history(30);
		return {
			global: status.global,
			tempFiles: usage.tempFiles,
			topUsers,
			credits: { today: today.ok ? today.global : { spent: 0, reserved: 0, budget: null }, last30Days }
		};
	}

	// ---------------------------------------------------------------- maintenance

	/**
	 * Rebuilds the ledger from the image store: adds images it does not know (on an object store, only into a ledger
	 * that knows none: there an unknown image is an upload whose commit never happened, removed once its writer is
	 * gone), drops rows whose image is gone, fixes sizes and totals, removes leftovers of interrupted writes, and
	 * releases reservations whose job can no longer finish. Safe while other processes use the same storage.
	 */
	public async reconcile(): Promise<ReconcileReport> {
		const restoreCounts = (await this.#ledger.usage('', '', 0)).globalFiles === 0;
		const report = await new Reconciler(this.#ledger, this.#store, this.#instance, this.#clock).run({ restoreCounts });
		this.#events.append({ type: 'reconcile', ...report, ignored: report.ignored.length });
		return report;
	}

	/**
	 * A provider's rate window kept in the ledger, so every process (and host) sharing it stays under the key's limit
	 * together: what the generation plugin's HTTP client asks before each request. `key` names the limit (a hash, never
	 * a credential). A ledger that cannot be reached rejects the claim; the caller then relies on its own window.
	 */
	public rateWindow(key: string, maxPerWindow: number, windowMs: number): { claim(): Promise<{ end(): void } | number> } {
		return {
			claim: async () => {
				const id = randomBytes(12).toString('hex');
				const wait = await this.#ledger.claimRatePlace({ id, key, limit: maxPerWindow, windowMs, maxHoldMs: RATE_PLACE_MAX_HOLD_MS });
				if (wait !== null) return wait;
				let ended = false;
				return {
					end: () => {
						if (ended) return;
						ended = true;
						// Best effort: a place never ended frees after RATE_PLACE_MAX_HOLD_MS.
						this.#ledger.endRatePlace(id, windowMs).catch(() => undefined);
					}
				};
			}
		};
	}

	/**
	 * Checks that the ledger in use is still the one its URI names (done every 10 s on its own). A ledger file
	 * deleted or replaced under a running process would leave it on the old one and every other process (the
	 * command-line tool, other shards) on a new one: the storage reopens the ledger at its URI and rebuilds it from
	 * the image store, today's counts included. Returns what happened, or null when all is well.
	 */
	public async verifyLedger(): Promise<string | null> {
		if (this.#closed) return null;
		const problem = await this.#ledger.verify();
		if (!problem) return null;
		this.#replacing ??= this.#replaceLedger(problem).finally(() => (this.#replacing = null));
		await this.#replacing;
		return problem;
	}

	async #replaceLedger(problem: string): Promise<boolean> {
		this.#logger.error(`Storage: ${problem}; opening the ledger again and rebuilding it from the image store`, {
			ledger: this.#ledger.location
		});
		let replacement: QuotaLedger;
		try {
			replacement = await openLedger(this.options, this.#store, this.#logger);
			await checkLedgerDescribes(replacement, this.#store);
		} catch (error) {
			this.#logger.error('Storage: the ledger could not be opened again; the one in use is kept', { error: String(error) });
			return false;
		}
		this.#retired.push(this.#ledger);
		this.#ledger = replacement;
		this.#instance.moveTo(replacement);
		await this.reconcile().catch((error: unknown) =>
			this.#logger.error('Storage: rebuilding the new ledger failed', { error: String(error) })
		);
		return true;
	}

	/** Runs temp clean-up every `cleanupIntervalMinutes` (no-op when 0). The timer does not keep the process alive. */
	public startAutomaticCleanup(): void {
		if (this.#cleanupTimer || this.options.cleanupIntervalMinutes === 0) return;
		this.#cleanupTimer = setLongInterval(() => {
			this.cleanupOldFiles().then(
				(result) => result.deleted > 0 && this.#logger.info('Temp clean-up', { ...result }),
				(error: unknown) => this.#logger.error('Temp clean-up failed', { error: String(error) })
			);
		}, this.options.cleanupIntervalMinutes * 60_000);
	}

	/** Stops the clean-up timer and closes the event log and the ledger. Calling it again does nothing. */
	public async close(): Promise<void> {
		if (this.#closed) return;
		this.#closed = true;
		if (this.#reconcileRetry) clearTimeout(this.#reconcileRetry);
		if (this.#watchdog) clearInterval(this.#watchdog);
		await this.#replacing;
		await this.#startupReconcile;
		await this.#retrying;
		this.#cleanupTimer?.cancel();
		this.#cleanupTimer = null;
		await this.#events.close();
		await this.#instance.close();
		await this.#store.close();
		await this.#ledger.close();
		for (const ledger of this.#retired.splice(0)) await ledger.close().catch(() => undefined);
	}

	// ---------------------------------------------------------------- internals

	/** The status the read-only gate checks: read once per `subject.request`, or each time without one. */
	#gateStatus(userId: string, subject: QuotaSubject): Promise<QuotaStatus> {
		const { request } = subject;
		if (!request) return this.getQuotaStatus(userId, subject);
		const known = this.#gateStatuses.get(request);
		if (known?.userId === userId) return known.status;
		const status = this.getQuotaStatus(userId, subject);
		this.#gateStatuses.set(request, { userId, status });
		// A failed read is not kept: the next check asks the ledger again.
		status.catch(() => this.#gateStatuses.delete(request));
		return status;
	}

	async #limitsFor(userId: string, subject: QuotaSubject, now: number): Promise<EffectiveLimits> {
		const override = isSnowflake(userId) ? await this.#ledger.getOverride(userId, now) : null;
		const limits = resolveLimits(this.options, userId, subject.roleIds ?? [], override);
		if (!subject.guildId || !isSnowflake(subject.guildId)) return limits;
		// The lowest of the owner's default, the tier or override, and the server's: a server only ever tightens.
		const { memberDailyGens } = await this.controls.settingsOf(subject.guildId);
		return memberDailyGens !== null && memberDailyGens < limits.dailyGens
			? { ...limits, dailyGens: memberDailyGens, dailyFrom: 'server' }
			: limits;
	}

	#ledgerLimits(
		limits: EffectiveLimits,
		guildDailyGens: number | null = null,
		budgets: { globalCredits: number; userCredits: number; guildCredits: number } = {
			globalCredits: Number.MAX_SAFE_INTEGER,
			userCredits: Number.MAX_SAFE_INTEGER,
			guildCredits: Number.MAX_SAFE_INTEGER
		}
	): LedgerLimits {
		return {
			dailyGens: limits.dailyGens,
			userBytes: limits.storageBytes,
			globalBytes: mbToBytes(this.options.maxGlobalStorageMb),
			jobs: limits.maxJobs === null ? Number.MAX_SAFE_INTEGER : limits.maxJobs + limits.maxQueued,
			guildDailyGens: guildDailyGens ?? Number.MAX_SAFE_INTEGER,
			...budgets
		};
	}

	async #deny(reason: LimitFailure, userId: string, subject: QuotaSubject): Promise<StorageFailure> {
		if (reason === 'TOO_MANY_JOBS') {
			const limits = await this.#limitsFor(userId, subject, this.#clock());
			const denial = failure(reason, this.#messages.tooManyJobs({ maxJobs: limits.maxJobs ?? 0, maxQueued: limits.maxQueued }));
			this.#events.append({ type: 'denial', userId, reason, message: denial.message });
			return denial;
		}
		if (reason === 'CREDIT_BUDGET') {
			const guildId = subject.guildId && isSnowflake(subject.guildId) ? subject.guildId : undefined;
			const today = await this.credits.today({ userId, ...(guildId ? { guildId } : {}) });
			const message = today.ok ? this.#messages.creditBudget(today) : this.#messages.ledgerUnavailable;
			this.#events.append({ type: 'denial', userId, reason, message });
			return failure(reason, message);
		}
		if (reason === 'GUILD_DAILY') {
			const status = await this.getQuotaStatus(userId, subject);
			const now = this.#clock();
			const guildId = subject.guildId ?? '';
			const limit = (await this.controls.settingsOf(guildId)).guildDailyGens ?? 0;
			const used = await this.#ledger.guildDailyUsed(guildId, utcDay(now), now);
			const message = this.#messages.guildDailyLimit({ used, limit }, status.daily.resetsAt.getTime() - now);
			const denial = failure('DAILY_LIMIT', message, status);
			this.#events.append({ type: 'denial', userId, reason: 'DAILY_LIMIT', guildId, message });
			return denial;
		}
		const status = await this.getQuotaStatus(userId, subject);
		const denial = quotaDenial(reason, status, this.#clock(), this.#messages);
		this.#events.append({ type: 'denial', userId, reason, message: denial.message });
		return denial;
	}

	/** The ledger could not be reached (locked past the busy timeout, closed, disk error): a value, not a throw. */
	#ledgerFailed(operation: string, userId: string, error: unknown): void {
		this.#logger.error('Quota ledger failed', { operation, userId, code: (error as NodeJS.ErrnoException | null)?.code ?? String(error) });
	}

	/** The ledger row of one of the user's images: INVALID_NAME for ids of the wrong shape, NOT_FOUND for another user's. */
	async #findRow(userId: string, imageId: string): Promise<FileRow | StorageFailure> {
		if (!isSnowflake(userId)) return failure('INVALID_NAME', this.#messages.invalidUser);
		if (!isImageId(imageId)) return failure('INVALID_NAME', this.#messages.invalidImageId);
		return (await this.#ledger.getFile(userId, imageId)) ?? failure('NOT_FOUND', this.#messages.notFound);
	}

	/** A read from the image store; one that cannot reach it (a disk error, an object store that is down) is logged by code and answered as IO. */
	async #askStore<T>(operation: string, userId: string, call: () => Promise<T>): Promise<T | StorageFailure> {
		try {
			return await call();
		} catch (error) {
			this.#logger.error('Image store failed', { operation, userId, store: this.#store.kind, code: errorCodeOf(error) });
			return failure('IO', this.#messages.ioRead);
		}
	}

	#validateSave(request: SaveImageRequest): StorageFailure | null {
		if (!isSnowflake(request.userId)) return failure('INVALID_NAME', this.#messages.invalidUser);
		if (request.name !== undefined && !isValidImageName(request.name)) return failure('INVALID_NAME', this.#messages.invalidName);
		if (!(request.data instanceof Uint8Array) || !sniffImageExtension(request.data))
			return failure('INVALID_IMAGE', this.#messages.invalidImage);
		if (request.reservation && request.reservation.userId !== request.userId) return failure('INVALID_NAME', this.#messages.invalidUser);
		return null;
	}

	async #abandonSave(staged: StagedImage | null, reservation: Reservation | null, error: unknown, userId: string): Promise<StorageFailure> {
		await staged?.discard().catch(() => undefined);
		// Best effort: if the ledger itself failed, the reservation expires on its own.
		if (reservation) await this.release(reservation).catch(() => undefined);
		const code = errorCodeOf(error);
		this.#logger.error('Image save failed', { userId, store: this.#store.kind, code });
		this.#events.append({ type: 'denial', userId, reason: 'IO', code });
		const full = await isDiskFull(error, this.options.storageRoot);
		const hint = full ? ' (the disk is full)' : code === 'EACCES' || code === 'EPERM' ? ' (permission denied)' : '';
		return failure('IO', this.#messages.ioSave(hint));
	}

	/** Removes the image first, then its row: a crash in between leaves a row reconcile drops, never a resurrected image. */
	async #removeImage(image: StoredImage): Promise<boolean> {
		try {
			await this.#store.remove({ userId: image.userId, imageId: image.id, temp: image.temp, ext: extensionOf(image.mimeType) });
		} catch (error) {
			this.#logger.error('Image delete failed', {
				userId: image.userId,
				imageId: image.id,
				store: this.#store.kind,
				code: errorCodeOf(error)
			});
			return false;
		}
		await this.#ledger.removeFile(image.userId, image.id);
		// Space was freed: the reserve given up on a full disk comes back once there is room.
		await this.#store.restoreSpaceReserve?.();
		return true;
	}

	#toStoredImage(row: FileRow, metadata: Record<string, unknown>): StoredImage {
		const ext = row.ext as ImageExtension;
		return {
			id: row.imageId,
			userId: row.userId,
			name: row.name,
			bytes: row.bytes,
			createdAt: new Date(row.createdAt),
			temp: row.temp,
			mimeType: mimeTypeOf(ext),
			path: this.#store.location(refOf(row)),
			metadata
		};
	}
}

/**
 * A ledger knows which store it describes: two storage roots sharing one ledger (QUOTA_LEDGER_URI pointing at
 * another root's file) would list each other's images at paths that do not exist, delete each other's rows and
 * erase each other's accounting on reconcile. The first storage to use a ledger claims it; any other is refused.
 */
async function checkLedgerDescribes(ledger: QuotaLedger, store: ImageStore): Promise<void> {
	const ours = await store.identity();
	const theirs = await ledger.claimStore(ours);
	if (theirs === ours) return;
	throw new StorageConfigError(
		`The quota ledger ${ledger.location} belongs to another storage (store ${theirs}); this storage (${store.describe()}) is store ${ours}. ` +
			'Two storages must not share a ledger: give this one its own (QUOTA_LEDGER_URI / ledgerUri). If it really is the same storage and ' +
			`its identity file was lost, restore it with the ledger's id: ${store.identityHint(theirs)}`
	);
}

/**
 * What went wrong, for a log line: a Node error code (ENOSPC, ECONNREFUSED) or an S3 error's name; never a message,
 * which can carry a path or a request's details.
 */
function errorCodeOf(error: unknown): string {
	const { code, name } = (error ?? {}) as { code?: unknown; name?: unknown };
	if (typeof code === 'string') return code;
	return typeof name === 'string' && name !== 'Error' ? name : 'unknown';
}

function isFailure(value: unknown): value is StorageFailure {
	return typeof value === 'object' && value !== null && (value as { ok?: unknown }).ok === false;
}

function refOf(row: FileRow): ImageRef {
	return { userId: row.userId, imageId: row.imageId, temp: row.temp, ext: row.ext as ImageExtension };
}

function extensionOf(mimeType: string): ImageExtension {
	return mimeType === 'image/jpeg' ? 'jpg' : (mimeType.slice('image/'.length) as ImageExtension);
}
