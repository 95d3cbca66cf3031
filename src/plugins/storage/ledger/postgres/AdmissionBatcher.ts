/**
 * Sends admissions in batches, the way a database groups commits: an admission leaves at the end of the event loop's
 * current turn while fewer than `maxInFlight` batches are out (a connection of the pool is free for it), and those that
 * arrive meanwhile leave together when one comes back, shared among the connections that are free. So nothing waits
 * for company: alone, an admission is a batch of one sent at once; under load, one round trip and one transaction
 * carry many. Each kind (reservations, commits) is its own function, so a batch holds one kind; the oldest waiting
 * admission says which kind leaves next, and both kinds share the connections.
 *
 * A batch is all or nothing (batchAdmissions.ts). When it fails for a reason that belongs to one of its items (a
 * refusal, a wrong charge: `isItemFailure`), its items go back to the front of the queue to be sent again each on its
 * own, within the same connections, so every item gets the answer it would have got alone. Any other failure (the
 * connection, the server) is every item's answer.
 */
export class AdmissionBatcher<Kind extends string, Item> {
	readonly #send: (kind: Kind, items: readonly Item[]) => Promise<void>;
	readonly #isItemFailure: (error: unknown) => boolean;
	readonly #maxInFlight: number;
	readonly #maxItems: number;
	readonly #waiting = new Map<Kind, Waiting<Item>[]>();
	#arrivals = 0;
	#inFlight = 0;
	#dispatchPending = false;

	public constructor(options: {
		send: (kind: Kind, items: readonly Item[]) => Promise<void>;
		isItemFailure: (error: unknown) => boolean;
		maxInFlight: number;
		maxItems: number;
	}) {
		this.#send = options.send;
		this.#isItemFailure = options.isItemFailure;
		this.#maxInFlight = Math.max(1, options.maxInFlight);
		this.#maxItems = Math.max(1, options.maxItems);
	}

	/** Resolves when `item` is admitted; rejects with its refusal or failure. */
	public run(kind: Kind, item: Item): Promise<void> {
		return new Promise((resolve, reject) => {
			const queue = this.#waiting.get(kind) ?? [];
			queue.push({ item, arrival: this.#arrivals++, alone: false, resolve, reject });
			this.#waiting.set(kind, queue);
			this.#schedule();
		});
	}

	/**
	 * Dispatches once what the current turn of the event loop has added: the callers a batch's answer releases ask
	 * for their next admission in the same turn, and leave together instead of the first of them alone.
	 */
	#schedule(): void {
		if (this.#dispatchPending) return;
		this.#dispatchPending = true;
		setImmediate(() => {
			this.#dispatchPending = false;
			this.#dispatch();
		});
	}

	#dispatch(): void {
		while (this.#inFlight < this.#maxInFlight) {
			const next = this.#oldestKind();
			if (next === undefined) return;
			const queue = this.#waiting.get(next) as Waiting<Item>[];
			// Shared among the free connections, so that none stands idle while another carries everything; one sent
			// back to go alone (they wait at the front) leaves by itself.
			const share = Math.ceil(queue.length / (this.#maxInFlight - this.#inFlight));
			const batch = queue.splice(0, queue[0]?.alone ? 1 : Math.min(this.#maxItems, share));
			this.#inFlight++;
			void this.#settle(next, batch).finally(() => {
				this.#inFlight--;
				this.#schedule();
			});
		}
	}

	#oldestKind(): Kind | undefined {
		let oldest: { kind: Kind; arrival: number } | undefined;
		for (const [kind, queue] of this.#waiting) {
			const head = queue[0];
			if (head && (!oldest || head.arrival < oldest.arrival)) oldest = { kind, arrival: head.arrival };
		}
		return oldest?.kind;
	}

	async #settle(kind: Kind, batch: Waiting<Item>[]): Promise<void> {
		try {
			await this.#send(
				kind,
				batch.map((entry) => entry.item)
			);
			for (const entry of batch) entry.resolve();
		} catch (error) {
			if (batch.length === 1 || !this.#isItemFailure(error)) {
				for (const entry of batch) entry.reject(error);
				return;
			}
			const queue = this.#waiting.get(kind) as Waiting<Item>[];
			queue.unshift(...batch.map((entry) => ({ ...entry, alone: true })));
		}
	}
}

interface Waiting<Item> {
	item: Item;
	/** Its place in the order of arrival, across kinds. */
	arrival: number;
	/** Sent back from a batch that one of its items failed: leaves in a batch of its own. */
	alone: boolean;
	resolve: () => void;
	reject: (error: unknown) => void;
}
