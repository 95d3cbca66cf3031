import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';

export type StorageEventType = 'save' | 'delete' | 'cleanup' | 'denial' | 'reconcile' | 'limits';

export interface StorageEvent {
	type: StorageEventType;
	userId?: string;
	[key: string]: unknown;
}

/**
 * `<root>/logs/events.jsonl`: one JSON line per save, delete, clean-up and denial, so an owner can see
 * what consumed the disk. Each line is a single append (O_APPEND), so several processes can share the file.
 */
export class EventLog {
	readonly #path: string;
	readonly #now: () => number;
	#stream: WriteStream | null = null;

	public constructor(logsDir: string, now: () => number) {
		this.#path = join(logsDir, 'events.jsonl');
		this.#now = now;
	}

	public get path(): string {
		return this.#path;
	}

	public append(event: StorageEvent): void {
		// The log is a record, not a gate: a failing disk must not fail a user's request a second time.
		this.#stream ??= createWriteStream(this.#path, { flags: 'a' }).on('error', () => undefined);
		this.#stream.write(`${JSON.stringify({ at: new Date(this.#now()).toISOString(), ...event })}\n`);
	}

	public async close(): Promise<void> {
		const stream = this.#stream;
		this.#stream = null;
		if (stream) await new Promise<void>((resolve) => stream.end(resolve));
	}
}
