import { utcDay, type Clock } from './clock.js';
import type { ImageStore, ScannedImage } from './images/ImageStore.js';
import type { Instance } from './Instance.js';
import type { CreditDayCount, DailyCount, FileKey, FileRow, GuildDailyCount, InstanceRow, QuotaLedger } from './ledger/QuotaLedger.js';
import type { Charge } from './images/records.js';

export interface ReconcileReport {
	/** Images in the store the ledger did not know (e.g. after a crash between rename and record). */
	added: number;
	/** Ledger rows whose image is gone (e.g. deleted by hand). */
	removed: number;
	/** Rows whose size disagreed with the store. */
	resized: number;
	/** Totals that disagreed with the rows and were rebuilt. */
	totalsFixed: number;
	/** Leftovers of interrupted writes and metadata without an image, removed. */
	partialsRemoved: number;
	/**
	 * Images of an object store whose commit never happened (the upload landed, the ledger never recorded it), removed
	 * once older than a minute and their writer is gone. Always 0 on the local disk, where an image becomes visible
	 * only after its commit.
	 */
	orphansRemoved: number;
	/** Reservations whose job is gone (expired or its process died), released. */
	reservationsReleased: number;
	/** Users whose generation count for a recent day was rebuilt from their images (a lost ledger only). */
	countsRestored: number;
	/** Symlinks and unknown files found in the store: reported, never followed or counted. */
	ignored: string[];
	files: number;
	durationMs: number;
}

/** A row the ledger may show before its file is renamed into place: reconcile leaves such young rows alone. */
const GRACE_MS = 60_000;
/** Interrupted writes older than this are certainly dead. */
const PARTIAL_MAX_AGE_MS = 3_600_000;
/** Daily counters older than this can no longer matter. */
const DAILY_KEEP_DAYS = 7;
/** Days of credit history rebuilt with the counts (what the usage chart shows). */
const CREDIT_HISTORY_DAYS = 30;

/**
 * Rebuilds a ledger from an image store, for any pair of backends: adds images the ledger does not know, drops
 * rows whose image is gone, fixes sizes and totals, removes leftovers of interrupted writes, and releases
 * reservations whose process is gone. Safe while other processes use the same storage: a save landing during
 * the scan is not a correction, and a file deleted during the scan is simply gone.
 *
 * On a store whose images are visible before their commit (object storage), an image the ledger does not know is an
 * upload whose commit never happened: an orphan, removed once it is older than the grace and its writer is not a live
 * instance, never added. The exception is a ledger that knows no image at all (new, or lost): it adopts every image,
 * as on the local disk.
 */
export class Reconciler {
	readonly #ledger: QuotaLedger;
	readonly #store: ImageStore;
	readonly #instance: Instance;
	readonly #clock: Clock;

	public constructor(ledger: QuotaLedger, store: ImageStore, instance: Instance, clock: Clock) {
		this.#ledger = ledger;
		this.#store = store;
		this.#instance = instance;
		this.#clock = clock;
	}

	/**
	 * `restoreCounts`: the ledger knew no image (it is new, or was lost and recreated): today's generation counts
	 * exist only in a ledger, so they are rebuilt from what each stored image's sidecar says it was charged.
	 * A ledger that knows its images keeps its own counts (an admin's reset must not come back).
	 */
	public run(options: { restoreCounts?: boolean } = {}): Promise<ReconcileReport> {
		// One reconcile at a time across every host sharing the ledger: two would correct each other's corrections.
		return this.#ledger.exclusive('reconcile', () => this.#run(options));
	}

	async #run(options: { restoreCounts?: boolean }): Promise<ReconcileReport> {
		const started = performance.now();
		const now = this.#clock();
		const report: ReconcileReport = {
			added: 0,
			removed: 0,
			resized: 0,
			totalsFixed: 0,
			partialsRemoved: 0,
			orphansRemoved: 0,
			reservationsReleased: 0,
			countsRestored: 0,
			ignored: [],
			files: 0,
			durationMs: 0
		};
		await this.#instance.ensureRegistered();
		let instances = await this.#readInstances();
		/**
		 * A process registers before it reserves or writes anything, so a tag missing from an earlier read belongs
		 * to a process that registered since: read again before calling it dead.
		 */
		const isDead = async (tag: string) => {
			if (!instances.has(tag)) instances = await this.#readInstances();
			return this.#instance.isDead(tag, instances, now);
		};

		// The ledger is read first so the scan can skip reading the metadata of images it already knows.
		const inLedger = new Map((await this.#ledger.allFiles()).map((row) => [row.imageId, row]));
		const inStore = new Map<string, FileRow>();
		const charges = new RestoredCharges(utcDay(now - DAILY_KEEP_DAYS * 86_400_000), utcDay(now - CREDIT_HISTORY_DAYS * 86_400_000));
		/** Images whose save was cut short by the death of its process (its partial files are still there). */
		const crashedWrites = new Set<string>();
		/** Images of an object store the ledger did not know when it was read: uploads whose commit may never happen. */
		const uncommitted: ScannedImage[] = [];
		const adoptUnknown = !this.#store.visibleBeforeCommit || options.restoreCounts === true;
		await this.#store.scan(async (entry) => {
			switch (entry.kind) {
				case 'image': {
					if (!adoptUnknown && !inLedger.has(entry.imageId)) {
						uncommitted.push(entry);
						return;
					}
					const row = await this.#rowOf(entry, inLedger.get(entry.imageId), (userId, charge) => {
						if (options.restoreCounts) charges.add(userId, charge);
					});
					if (row) inStore.set(entry.imageId, row);
					else report.ignored.push(entry.location);
					return;
				}
				case 'orphan-sidecar':
					// A sidecar is written (and renamed) just before its image: only an old one is an orphan.
					if (Date.now() - entry.modifiedAt > GRACE_MS) {
						await entry.remove();
						report.partialsRemoved++;
					}
					return;
				case 'partial': {
					// File ages are read against the wall clock: mtimes are, whatever clock the storage was given.
					const writerDead = entry.writer !== null && (await isDead(entry.writer));
					if (writerDead) crashedWrites.add(entry.imageId);
					if (writerDead || Date.now() - entry.modifiedAt > PARTIAL_MAX_AGE_MS) {
						await entry.remove();
						report.partialsRemoved++;
					}
					return;
				}
				case 'ignored':
					report.ignored.push(entry.location);
			}
		});

		report.orphansRemoved = await this.#removeOrphans(uncommitted, isDead);

		const remove: FileKey[] = [];
		const add: FileRow[] = [];
		for (const [imageId, stored] of inStore) {
			const known = inLedger.get(imageId);
			inLedger.delete(imageId);
			if (known && known.bytes === stored.bytes && known.userId === stored.userId && known.temp === stored.temp) continue;
			if (known) remove.push(known);
			// The store is the truth: an image already stored is recorded even above a cap.
			add.push(stored);
		}
		for (const row of inLedger.values()) {
			// A young row may be another process's save between commit and rename, unless its writer is dead.
			if (now - row.createdAt < GRACE_MS && !crashedWrites.has(row.imageId)) continue;
			remove.push(row);
		}
		// Counted from what really changed: a save that landed while the store was scanned is not a correction.
		const changed = await this.#ledger.applyCorrections(remove, add);
		report.resized = [...changed.added].filter((imageId) => changed.removed.has(imageId)).length;
		report.added = changed.added.size - report.resized;
		report.removed = changed.removed.size - report.resized;
		report.totalsFixed = await this.#ledger.rebuildTotals();
		const restored = charges.counts();
		if (restored.daily.length > 0) {
			await this.#ledger.restoreDaily(restored.daily);
			report.countsRestored = restored.daily.length;
		}
		if (restored.guildDaily.length > 0 || restored.creditDays.length > 0) {
			await this.#ledger.restoreCharges(restored.guildDaily, restored.creditDays);
		}
		// Owners are listed first, then judged against a fresh read: every owner listed had registered before.
		const owners = await this.#ledger.reservationOwners();
		instances = await this.#readInstances();
		const deadOwners = [];
		for (const owner of owners) if (await isDead(owner)) deadOwners.push(owner);
		report.reservationsReleased = await this.#ledger.purgeReservations(now, deadOwners);
		const deadTags = [];
		for (const tag of instances.keys()) if (await isDead(tag)) deadTags.push(tag);
		await this.#ledger.removeInstances(deadTags);
		await this.#ledger.pruneDaily(utcDay(now - DAILY_KEEP_DAYS * 86_400_000));
		report.files = inStore.size;
		report.durationMs = Math.round(performance.now() - started);
		return report;
	}

	/**
	 * Removes the uploads that will never be committed: older than the grace (a save between upload and commit is
	 * younger) and written by a process that is gone. The writers are judged first and the ledger read again after,
	 * so an upload committed by a writer that died just after is found committed, never removed; one committed during
	 * the scan by a live writer is kept, and counted by the next reconcile.
	 */
	async #removeOrphans(uncommitted: readonly ScannedImage[], isDead: (tag: string) => Promise<boolean>): Promise<number> {
		const abandoned: ScannedImage[] = [];
		for (const entry of uncommitted) {
			if (Date.now() - entry.modifiedAt <= GRACE_MS) continue;
			const writer = await entry.readWriter();
			if (writer === null || (await isDead(writer))) abandoned.push(entry);
		}
		if (abandoned.length === 0) return 0;
		const committed = new Set((await this.#ledger.allFiles()).map((row) => row.imageId));
		let removed = 0;
		for (const entry of abandoned) {
			if (committed.has(entry.imageId)) continue;
			await entry.remove();
			removed++;
		}
		return removed;
	}

	async #readInstances(): Promise<Map<string, InstanceRow>> {
		return new Map((await this.#ledger.instances()).map((row) => [row.id, row]));
	}

	/** The ledger row an image in the store stands for; the sidecar is read only when the ledger does not already agree. */
	async #rowOf(
		entry: ScannedImage,
		known: FileRow | undefined,
		onCharge: (userId: string, charge: Charge) => void
	): Promise<FileRow | null> {
		if (known && known.temp === entry.temp && (entry.temp || known.userId === entry.folderUserId) && known.bytes === entry.bytes) {
			return known;
		}
		const sidecar = await entry.readSidecar();
		const userId = entry.folderUserId ?? sidecar?.userId ?? null;
		if (!userId) return null;
		if (sidecar?.charge) onCharge(userId, sidecar.charge);
		return {
			imageId: entry.imageId,
			userId,
			temp: entry.temp,
			ext: entry.ext,
			bytes: entry.bytes,
			createdAt: sidecar?.createdAt ?? Math.round(entry.modifiedAt),
			name: sidecar?.name ?? entry.imageId,
			metadata: JSON.stringify(sidecar?.metadata ?? {})
		};
	}
}

/**
 * What the images of a lost ledger say they were charged, summed for the ledger to take back: each user's and each
 * server's generations per day (the last DAILY_KEEP_DAYS days, as the ledger keeps them) and the credit days (spent
 * and generations of the bot, each user and each server, for the last CREDIT_HISTORY_DAYS days).
 */
class RestoredCharges {
	readonly #daily = new Map<string, DailyCount>();
	readonly #guildDaily = new Map<string, GuildDailyCount>();
	readonly #creditDays = new Map<string, CreditDayCount>();

	readonly #oldestDay: string;
	readonly #oldestCreditDay: string;

	public constructor(oldestDay: string, oldestCreditDay: string) {
		this.#oldestDay = oldestDay;
		this.#oldestCreditDay = oldestCreditDay;
	}

	public add(userId: string, charge: Charge): void {
		const credits = charge.credits ?? 0;
		if (charge.cost > 0 && charge.day >= this.#oldestDay) {
			this.#count(this.#daily, `${userId} ${charge.day}`, { userId, day: charge.day, used: 0 }).used += charge.cost;
			if (charge.guildId) {
				const guildId = charge.guildId;
				this.#count(this.#guildDaily, `${guildId} ${charge.day}`, { guildId, day: charge.day, used: 0 }).used += charge.cost;
			}
		}
		if ((charge.cost > 0 || credits > 0) && charge.day >= this.#oldestCreditDay) {
			for (const scope of ['global', `u:${userId}`, ...(charge.guildId ? [`g:${charge.guildId}`] : [])]) {
				const day = this.#count(this.#creditDays, `${scope} ${charge.day}`, { scope, day: charge.day, spent: 0, generations: 0 });
				day.spent += credits;
				day.generations += charge.cost;
			}
		}
	}

	public counts() {
		return { daily: [...this.#daily.values()], guildDaily: [...this.#guildDaily.values()], creditDays: [...this.#creditDays.values()] };
	}

	#count<T>(map: Map<string, T>, key: string, empty: T): T {
		const found = map.get(key);
		if (found) return found;
		map.set(key, empty);
		return empty;
	}
}
