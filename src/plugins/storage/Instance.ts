import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { InstanceRegistry, InstanceRow } from './ledger/QuotaLedger.js';
import { WRITER_TAG } from './images/records.js';

/** How often a live process renews its lease. */
export const HEARTBEAT_MS = 10_000;
/** A lease not renewed for this long belongs to a process that is gone (crashed, killed, its host down). */
export const LEASE_MS = 60_000;
/** When this process started (wall clock): a row with this pid that started earlier is a predecessor's. */
const PROCESS_STARTED_AT = Math.round(Date.now() - process.uptime() * 1000);

/**
 * This process as the ledger knows it: a random tag (not a pid: a restarted container reuses pid 1, and a pid
 * means nothing on another host), registered with a heartbeat the first time the process reserves or writes
 * anything. Reservations and partial writes carry the tag, so reconcile can tell a dead process's leftovers
 * from work in progress. Read-only processes (a `status` from a shell) never register and never write.
 */
export class Instance {
	public readonly tag = randomBytes(4).toString('hex');
	public readonly host = hostname();
	public readonly pid = process.pid;
	#registry: InstanceRegistry;
	readonly #clock: () => number;
	#registered: Promise<void> | null = null;
	#heartbeat: NodeJS.Timeout | null = null;

	public constructor(registry: InstanceRegistry, clock: () => number) {
		this.#registry = registry;
		this.#clock = clock;
	}

	/** Registers this process (once) before its first reservation or write; resolves with its tag. */
	public async ensureRegistered(): Promise<string> {
		this.#registered ??= this.#register().catch((error: unknown) => {
			this.#registered = null;
			throw error;
		});
		await this.#registered;
		return this.tag;
	}

	/**
	 * Whether the process behind `tag` is gone. On this host a pid check answers at once, and a row with this
	 * process's own pid that started before it is a predecessor whose pid was reused (pid 1 in a restarted
	 * container); elsewhere, the lease decides. Several storages in one process each have a tag of their own.
	 */
	public isDead(tag: string, instances: ReadonlyMap<string, InstanceRow>, now: number): boolean {
		if (tag === this.tag) return false;
		if (!WRITER_TAG.test(tag)) return isDeadLegacyOwner(tag, this.host);
		const row = instances.get(tag);
		// Unknown: it shut down cleanly (and removed its row) or a reconcile already judged it dead.
		if (!row) return true;
		if (row.host === this.host) {
			if (row.pid === this.pid) return row.startedAt < PROCESS_STARTED_AT - 1000;
			if (isDeadProcess(row.pid)) return true;
		}
		return now - row.heartbeatAt > LEASE_MS;
	}

	/** Registers (at the next write) in `registry` from now on: the ledger was replaced by a new one. */
	public moveTo(registry: InstanceRegistry): void {
		if (this.#heartbeat) clearInterval(this.#heartbeat);
		this.#heartbeat = null;
		this.#registered = null;
		this.#registry = registry;
	}

	/** Stops the heartbeat and removes this process's row and its reservations (a clean shutdown). */
	public async close(): Promise<void> {
		if (this.#heartbeat) clearInterval(this.#heartbeat);
		this.#heartbeat = null;
		if (this.#registered) await this.#registry.removeInstance(this.tag).catch(() => undefined);
		this.#registered = null;
	}

	async #register(): Promise<void> {
		await this.#registry.registerInstance(this.#row(this.#clock()));
		this.#heartbeat = setInterval(() => {
			this.#registry.heartbeatInstance(this.tag, this.#clock()).then(
				async (alive) => {
					// Judged dead during a long pause (a suspended VM): come back under the same tag.
					if (!alive) await this.#registry.registerInstance(this.#row(this.#clock()));
				},
				() => undefined // a missed beat is retried at the next one; the lease allows several
			);
		}, HEARTBEAT_MS);
		this.#heartbeat.unref();
	}

	/** `startedAt` is when the process started (wall clock); `heartbeatAt` is on the storage's clock. */
	#row(now: number): InstanceRow {
		return { id: this.tag, host: this.host, pid: this.pid, startedAt: PROCESS_STARTED_AT, heartbeatAt: now };
	}
}

/** Reservations written before instances existed name `host:pid`: dead when it is this host and that process is gone. */
function isDeadLegacyOwner(owner: string, host: string): boolean {
	const [ownerHost, pid] = owner.split(':');
	return ownerHost === host && isDeadProcess(Number(pid));
}

/** Whether a process of this host has exited (never this process itself). */
function isDeadProcess(pid: number): boolean {
	if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return false;
	try {
		process.kill(pid, 0);
		return false;
	} catch (error) {
		return (error as NodeJS.ErrnoException).code === 'ESRCH';
	}
}
