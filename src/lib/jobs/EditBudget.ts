/**
 * How many progress edits the whole bot may send per second. discord.js lets a client make 50 REST requests a
 * second (interaction callbacks aside) and queues the rest, and a result, a private answer or a removal waits
 * in that same queue: with a few hundred jobs waiting, each one's "queued: 12" and elapsed seconds would ask
 * for far more than 50. Progress is a courtesy, so it gets a share and the rest stays free for what users wait for.
 */
export const PROGRESS_EDITS_PER_SECOND = 15;

/** A token bucket: up to `perSecond` takes a second, at most `perSecond` saved up. */
export class EditBudget {
	readonly #perSecond: number;
	readonly #now: () => number;
	#tokens: number;
	#refilledAt: number;

	public constructor(perSecond: number, now: () => number = () => performance.now()) {
		this.#perSecond = perSecond;
		this.#now = now;
		this.#tokens = perSecond;
		this.#refilledAt = now();
	}

	/** Takes one edit if the budget has it; otherwise returns the milliseconds until it will. */
	public take(): true | number {
		const now = this.#now();
		this.#tokens = Math.min(this.#perSecond, this.#tokens + ((now - this.#refilledAt) / 1000) * this.#perSecond);
		this.#refilledAt = now;
		if (this.#tokens >= 1) {
			this.#tokens--;
			return true;
		}
		return Math.ceil(((1 - this.#tokens) / this.#perSecond) * 1000);
	}
}

/** The one budget every generation reply of this process shares. */
export const progressEditBudget = new EditBudget(PROGRESS_EDITS_PER_SECOND);
