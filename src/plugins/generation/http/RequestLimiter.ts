/**
 * Keeps a provider's requests in bounds: at most `maxConcurrent` in flight, and at most `maxPerWindow`
 * started in any `windowMs` (Stability locks a key out for 60 s past 150 requests in 10 s). Waiters are
 * served in order and told their place in the queue whenever it changes, so a bot can show "queued: 3".
 */
export interface RequestLimiterOptions {
	maxConcurrent: number;
	maxPerWindow: number;
	windowMs: number;
}

interface Waiter {
	resolve: (release: () => void) => void;
	reject: (error: unknown) => void;
	onPosition?: (position: number) => void;
	position: number;
	signal?: AbortSignal;
	onAbort?: () => void;
}

export class RequestLimiter {
	readonly #options: RequestLimiterOptions;
	readonly #queue: Waiter[] = [];
	readonly #starts: number[] = [];
	#active = 0;
	#timer: NodeJS.Timeout | null = null;

	public constructor(options: RequestLimiterOptions) {
		this.#options = options;
	}

	public get active(): number {
		return this.#active;
	}

	public get queued(): number {
		return this.#queue.length;
	}

	/** Resolves with a release function once this request may start; rejects if `signal` aborts first. */
	public acquire(signal?: AbortSignal, onPosition?: (position: number) => void): Promise<() => void> {
		if (signal?.aborted) return Promise.reject(signal.reason);
		return new Promise((resolve, reject) => {
			const waiter: Waiter = { resolve, reject, onPosition, position: 0, signal };
			if (signal) {
				waiter.onAbort = () => {
					const index = this.#queue.indexOf(waiter);
					if (index === -1) return;
					this.#queue.splice(index, 1);
					reject(signal.reason);
					this.#announcePositions();
				};
				signal.addEventListener('abort', waiter.onAbort, { once: true });
			}
			this.#queue.push(waiter);
			this.#pump();
			this.#announcePositions();
		});
	}

	#pump(): void {
		// A monotonic clock: a wall clock stepped back (NTP, a resumed VM) would stall the window.
		const now = performance.now();
		while (this.#starts.length > 0 && (this.#starts[0] as number) <= now - this.#options.windowMs) this.#starts.shift();
		while (this.#queue.length > 0 && this.#active < this.#options.maxConcurrent) {
			if (this.#starts.length >= this.#options.maxPerWindow) {
				this.#wakeAt((this.#starts[0] as number) + this.#options.windowMs);
				return;
			}
			const waiter = this.#queue.shift() as Waiter;
			if (waiter.signal && waiter.onAbort) waiter.signal.removeEventListener('abort', waiter.onAbort);
			this.#active++;
			this.#starts.push(now);
			let released = false;
			waiter.resolve(() => {
				if (released) return;
				released = true;
				this.#active--;
				this.#pump();
				this.#announcePositions();
			});
		}
	}

	#wakeAt(time: number): void {
		if (this.#timer) return;
		this.#timer = setTimeout(
			() => {
				this.#timer = null;
				this.#pump();
				this.#announcePositions();
			},
			Math.max(1, time - performance.now())
		);
	}

	#announcePositions(): void {
		this.#queue.forEach((waiter, index) => {
			if (waiter.position === index + 1) return;
			waiter.position = index + 1;
			waiter.onPosition?.(waiter.position);
		});
	}
}
