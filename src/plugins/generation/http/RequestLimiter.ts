/**
 * Keeps work in bounds: at most `maxConcurrent` at once and, with a rate window, at most `maxPerWindow`
 * requests in any `windowMs` (Stability locks a key out for 60 s past 150 requests in 10 s). Waiters are
 * served in order and told their place in the queue whenever it changes, so a bot can show "queued: 3".
 * The HTTP clients use it for requests, the generator for jobs, the image work for sharp pipelines.
 */
export interface RequestLimiterOptions {
	maxConcurrent: number;
	/** A rate limit: at most `maxPerWindow` requests per `windowMs` (see {@link SlidingWindow}). Omitted: none. */
	maxPerWindow?: number;
	windowMs?: number;
	/** A rate window kept elsewhere (for instance one shared by every process using the same key); wins over the two above. */
	window?: RateWindow;
}

/**
 * Where a rate limit's places are counted: the one interface a window kept elsewhere implements. A request
 * takes a place when it is sent and gives it back when it has ended; the window decides how long the place
 * still counts after that.
 */
export interface RateWindow {
	/** A place for a request sent now; when the window is full, the milliseconds until a place may free up (Infinity: when a request ends). */
	claim(): WindowPlace | number;
}

export interface WindowPlace {
	/** The request has ended (answered, failed or abandoned). */
	end(): void;
}

/**
 * The window in memory. A place is held from when the request is sent until one whole window after it
 * ended. Counting from the start alone is not enough: the provider counts a request when it arrives, or
 * perhaps when it answers, and either can fall up to the request's duration later than the send, so two
 * requests sent a window apart could land in one window of the provider's and earn a 429, which at
 * Stability locks the key out for 60 s. Holding the place until one window after the end is safe whatever
 * the provider counts; with quick answers (where a window fills at all) it costs next to nothing, and
 * for slow generations the number in flight is the binding limit anyway.
 */
export class SlidingWindow implements RateWindow {
	readonly #maxPerWindow: number;
	readonly #windowMs: number;
	#inFlight = 0;
	/** When the places of ended requests free, earliest first (each is "now + window" on a monotonic clock). */
	readonly #freeing: number[] = [];

	public constructor(maxPerWindow: number, windowMs: number) {
		this.#maxPerWindow = maxPerWindow;
		this.#windowMs = windowMs;
	}

	public claim(): WindowPlace | number {
		// A monotonic clock: a wall clock stepped back (NTP, a resumed VM) would stall the window.
		const now = performance.now();
		while (this.#freeing.length > 0 && (this.#freeing[0] as number) <= now) this.#freeing.shift();
		if (this.#inFlight + this.#freeing.length >= this.#maxPerWindow) {
			return this.#freeing.length > 0 ? (this.#freeing[0] as number) - now : Number.POSITIVE_INFINITY;
		}
		this.#inFlight++;
		let ended = false;
		return {
			end: () => {
				if (ended) return;
				ended = true;
				this.#inFlight--;
				this.#freeing.push(performance.now() + this.#windowMs);
			}
		};
	}
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
	readonly #maxConcurrent: number;
	readonly #window: RateWindow | null;
	readonly #queue: Waiter[] = [];
	#active = 0;
	#timer: NodeJS.Timeout | null = null;

	public constructor(options: RequestLimiterOptions) {
		this.#maxConcurrent = options.maxConcurrent;
		this.#window =
			options.window ??
			(options.maxPerWindow !== undefined && options.windowMs !== undefined
				? new SlidingWindow(options.maxPerWindow, options.windowMs)
				: null);
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

	/** Runs `work` when its turn comes and frees the place when it settles. */
	public async run<T>(work: () => Promise<T>, signal?: AbortSignal, onPosition?: (position: number) => void): Promise<T> {
		const release = await this.acquire(signal, onPosition);
		try {
			return await work();
		} finally {
			release();
		}
	}

	#pump(): void {
		while (this.#queue.length > 0 && this.#active < this.#maxConcurrent) {
			const place = this.#window?.claim() ?? null;
			if (typeof place === 'number') {
				if (Number.isFinite(place)) this.#wakeIn(place);
				return;
			}
			const waiter = this.#queue.shift() as Waiter;
			if (waiter.signal && waiter.onAbort) waiter.signal.removeEventListener('abort', waiter.onAbort);
			this.#active++;
			let released = false;
			waiter.resolve(() => {
				if (released) return;
				released = true;
				place?.end();
				this.#active--;
				this.#pump();
				this.#announcePositions();
			});
		}
	}

	#wakeIn(ms: number): void {
		if (this.#timer) return;
		this.#timer = setTimeout(
			() => {
				this.#timer = null;
				this.#pump();
				this.#announcePositions();
			},
			Math.max(1, Math.ceil(ms))
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
