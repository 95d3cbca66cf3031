import { open, rename, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

export type StorageEventType = 'save' | 'delete' | 'cleanup' | 'denial' | 'reconcile' | 'limits' | 'controls' | 'log';

export interface StorageEvent {
	type: StorageEventType;
	userId?: string;
	[key: string]: unknown;
}

export interface EventLogOptions {
	/** The log is rotated when it would grow past this. Default 10 MiB. */
	maxBytes?: number;
	/** Rotated files kept beside it (`events.1.jsonl`, ...), at least 1. Default 2. */
	keep?: number;
}

const DEFAULT_MAX_BYTES = 10 * 1024 * 1024;
const DEFAULT_KEEP = 2;

/**
 * `<root>/logs/events.jsonl`: one JSON line per save, delete, clean-up and denial, so an owner can see what
 * consumed the disk. Several processes share the file: each line is one append (O_APPEND).
 *
 * It is a record, not a gate: a failing disk must not fail a user's request a second time. So a line that
 * cannot be written (the disk is full) is dropped, and what a partial write left is cut off again so no half
 * line is ever glued to the next; the next event tries again, and once space is back a `log` line says how
 * many were dropped. The log never grows past `maxBytes` times `keep + 1` (30 MiB by default): it is
 * rotated (`events.jsonl` -> `events.1.jsonl` -> ...), and it is not counted in the storage quotas.
 */
export class EventLog {
	readonly #path: string;
	readonly #now: () => number;
	readonly #maxBytes: number;
	readonly #keep: number;
	#handle: FileHandle | null = null;
	#writing: Promise<void> = Promise.resolve();
	#dropped = 0;
	#closed = false;

	public constructor(logsDir: string, now: () => number, options: EventLogOptions = {}) {
		this.#path = join(logsDir, 'events.jsonl');
		this.#now = now;
		this.#maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
		this.#keep = Math.max(1, options.keep ?? DEFAULT_KEEP);
	}

	public get path(): string {
		return this.#path;
	}

	/** Queues one line; lines are written in order, one at a time. Never throws, never rejects. */
	public append(event: StorageEvent): void {
		if (this.#closed) return;
		const line = `${JSON.stringify({ at: new Date(this.#now()).toISOString(), ...event })}\n`;
		this.#writing = this.#writing.then(() => this.#write(line));
	}

	/** Resolves once every line queued so far is written (or dropped). */
	public flush(): Promise<void> {
		return this.#writing;
	}

	/** Waits for queued lines, then closes the file. */
	public async close(): Promise<void> {
		this.#closed = true;
		await this.#writing;
		await this.#handle?.close().catch(() => undefined);
		this.#handle = null;
	}

	async #write(line: string): Promise<void> {
		if (this.#dropped > 0) {
			const note = `${JSON.stringify({ at: new Date(this.#now()).toISOString(), type: 'log', dropped: this.#dropped, reason: 'the disk refused earlier lines' })}\n`;
			if (!(await this.#writeLine(note))) {
				this.#dropped++;
				return;
			}
			this.#dropped = 0;
		}
		if (!(await this.#writeLine(line))) this.#dropped++;
	}

	/** One line, whole or not at all. */
	async #writeLine(line: string): Promise<boolean> {
		const data = Buffer.from(line);
		let handle: FileHandle;
		let before: number;
		try {
			handle = await this.#file(data.length);
			before = (await handle.stat()).size;
		} catch {
			await this.#drop();
			return false;
		}
		try {
			const { bytesWritten } = await handle.write(data);
			if (bytesWritten === data.length) return true;
		} catch {
			// Handled below, like a short write.
		}
		try {
			// Cut off what this write left, if nothing was appended after it (it would be a half line otherwise).
			const after = (await handle.stat()).size;
			if (after > before && after - before < data.length) await handle.truncate(before);
		} catch {
			// The file cannot even be truncated: the next write starts a fresh handle.
		}
		await this.#drop();
		return false;
	}

	/**
	 * The open log, rotated first when this line would take it past `maxBytes`, and reopened when another process
	 * rotated it meanwhile (the handle would still point at the renamed file).
	 */
	async #file(lineBytes: number): Promise<FileHandle> {
		if (this.#handle) {
			const [open, current] = await Promise.all([this.#handle.stat(), stat(this.#path).catch(() => null)]);
			if (!current || current.ino !== open.ino) await this.#drop();
		}
		this.#handle ??= await open(this.#path, 'a', 0o644);
		const { size } = await this.#handle.stat();
		if (size > 0 && size + lineBytes > this.#maxBytes) {
			await this.#rotate();
			this.#handle = await open(this.#path, 'a', 0o644);
		}
		return this.#handle;
	}

	async #rotate(): Promise<void> {
		await this.#drop();
		const rotated = (index: number) => this.#path.replace(/\.jsonl$/, `.${index}.jsonl`);
		for (let index = this.#keep - 1; index >= 1; index--) await rename(rotated(index), rotated(index + 1)).catch(() => undefined);
		// Another process may have rotated first: then this rename finds nothing, which is fine.
		await rename(this.#path, rotated(1)).catch(() => undefined);
	}

	async #drop(): Promise<void> {
		const handle = this.#handle;
		this.#handle = null;
		await handle?.close().catch(() => undefined);
	}
}
