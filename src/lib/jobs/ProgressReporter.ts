import type { JobStatus } from '../../plugins/generation/index.js';
import { progressEditBudget, type EditBudget } from './EditBudget.js';

export interface ProgressReporterOptions {
	/** Least time between two edits (Discord rate-limits edits). Default 2 s. */
	minIntervalMs?: number;
	/** How often the elapsed time is refreshed while nothing else changes. Default 5 s. */
	tickMs?: number;
	now?: () => number;
	/** Edits per second shared with every other reporter. Default: the process's one budget. */
	budget?: EditBudget;
}

/**
 * Edits a reply with a job's state, throttled: a state change is shown at once unless an edit went out
 * less than `minIntervalMs` ago (then it is shown when that time is up), and the elapsed time is
 * refreshed every `tickMs`. Every reporter of the process draws from one edit budget: when it is spent,
 * the edit waits its turn and then shows the newest state. Edits never overlap, and a failed edit is
 * dropped: progress is a courtesy.
 */
export class ProgressReporter {
	readonly #render: (status: JobStatus | null, elapsedMs: number) => string;
	readonly #edit: (content: string) => Promise<unknown>;
	readonly #minInterval: number;
	readonly #now: () => number;
	readonly #startedAt: number;
	readonly #ticker: NodeJS.Timeout;
	readonly #budget: EditBudget;
	#status: JobStatus | null = null;
	#lastEditAt = Number.NEGATIVE_INFINITY;
	#lastContent = '';
	#pending: NodeJS.Timeout | null = null;
	#inFlight: Promise<unknown> | null = null;
	#stopped = false;

	public constructor(
		render: (status: JobStatus | null, elapsedMs: number) => string,
		edit: (content: string) => Promise<unknown>,
		options: ProgressReporterOptions = {}
	) {
		this.#render = render;
		this.#edit = edit;
		this.#minInterval = options.minIntervalMs ?? 2000;
		this.#now = options.now ?? Date.now;
		this.#startedAt = this.#now();
		this.#budget = options.budget ?? progressEditBudget;
		this.#ticker = setInterval(() => this.#schedule(), options.tickMs ?? 5000);
		this.#ticker.unref();
	}

	public get status(): JobStatus | null {
		return this.#status;
	}

	/** Shows the first state ("Starting") at once. */
	public start(): void {
		this.#schedule();
	}

	public update(status: JobStatus): void {
		this.#status = status;
		this.#schedule();
	}

	/** Stops editing and waits for an edit in flight, so the final reply is never overwritten by progress. */
	public async stop(): Promise<void> {
		this.#stopped = true;
		clearInterval(this.#ticker);
		if (this.#pending) clearTimeout(this.#pending);
		this.#pending = null;
		await this.#inFlight?.catch(() => undefined);
	}

	#schedule(): void {
		if (this.#stopped || this.#pending) return;
		const wait = this.#lastEditAt + this.#minInterval - this.#now();
		if (wait > 0 || this.#inFlight) return this.#retryIn(wait);
		const content = this.#render(this.#status, this.#now() - this.#startedAt);
		if (content === this.#lastContent) return;
		const allowed = this.#budget.take();
		if (allowed !== true) return this.#retryIn(allowed);
		this.#lastContent = content;
		this.#lastEditAt = this.#now();
		this.#inFlight = this.#edit(content)
			.catch(() => undefined)
			.finally(() => (this.#inFlight = null));
	}

	#retryIn(ms: number): void {
		this.#pending = setTimeout(
			() => {
				this.#pending = null;
				this.#schedule();
			},
			Math.max(ms, 50)
		);
		this.#pending.unref();
	}
}
