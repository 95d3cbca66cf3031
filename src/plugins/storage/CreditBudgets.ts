import { utcDay, type Clock } from './clock.js';
import { isSnowflake } from './ids.js';
import type { QuotaLedger } from './ledger/QuotaLedger.js';
import { failure, type StorageResult } from './StorageResult.js';

/** Credits are stored as whole milli-credits, so a cost of 2.5 is charged exactly and sums never drift. */
export const MILLI = 1000;

export function toMilli(credits: number): number {
	return Math.round(credits * MILLI);
}

export function fromMilli(milli: number): number {
	return milli / MILLI;
}

/** One scope's day, in credits: spent by stored images, reserved by jobs running now, and the budget (null: none). */
export interface CreditLine {
	spent: number;
	reserved: number;
	budget: number | null;
}

export interface CreditDay {
	day: string;
	global: CreditLine;
	user?: CreditLine & { id: string };
}

export interface CreditBudgetOptions {
	/** Credits a day for the whole bot (DAILY_CREDIT_BUDGET); undefined: none. */
	dailyCreditBudget?: number;
	/** Credits a day for each user (USER_DAILY_CREDIT_BUDGET); undefined: none. */
	userDailyCreditBudget?: number;
}

/**
 * The daily provider-credit budgets: the bot's and each user's, from the configuration unless one was set with the
 * CLI (kept in the ledger, so every process applies it). Spending is charged through the job's reservation, commit
 * and release, like the daily count: admission counts what is spent and what running jobs hold.
 */
export class CreditBudgets {
	readonly #ledger: () => QuotaLedger;
	readonly #clock: Clock;
	readonly #options: CreditBudgetOptions;

	public constructor(ledger: () => QuotaLedger, clock: Clock, options: CreditBudgetOptions) {
		this.#ledger = ledger;
		this.#clock = clock;
		this.#options = options;
	}

	/** The budgets in force, in milli-credits (Number.MAX_SAFE_INTEGER: none). */
	public async limits(userId: string): Promise<{ globalCredits: number; userCredits: number }> {
		const [global, user] = await Promise.all([this.#budget('global'), this.#budget(userId)]);
		return { globalCredits: global ?? Number.MAX_SAFE_INTEGER, userCredits: user ?? Number.MAX_SAFE_INTEGER };
	}

	/** Today's spend, reserved credits and budget of the bot, and of `userId` when given. */
	public async today(userId?: string): Promise<StorageResult<CreditDay>> {
		if (userId !== undefined && !isSnowflake(userId)) return failure('INVALID_NAME', 'That is not a Discord user id.');
		const now = this.#clock();
		const day = utcDay(now);
		const usage = await this.#ledger().creditUsage(day, now, userId ?? '');
		const global = {
			spent: fromMilli(usage.globalSpent),
			reserved: fromMilli(usage.globalReserved),
			budget: nullable(await this.#budget('global'))
		};
		if (userId === undefined) return { ok: true, day, global };
		const user = {
			id: userId,
			spent: fromMilli(usage.userSpent),
			reserved: fromMilli(usage.userReserved),
			budget: nullable(await this.#budget(userId))
		};
		return { ok: true, day, global, user };
	}

	/**
	 * Credits spent and generations charged per day over the last `days` days (today included), oldest first; days
	 * without any are 0.
	 */
	public async history(days = 30): Promise<{ day: string; spent: number; generations: number }[]> {
		const now = this.#clock();
		const dayList = Array.from({ length: days }, (_, index) => utcDay(now - (days - 1 - index) * 86_400_000));
		const rows = new Map((await this.#ledger().creditHistory(dayList[0] as string)).map((row) => [row.day, row]));
		return dayList.map((day) => ({ day, spent: fromMilli(rows.get(day)?.spent ?? 0), generations: rows.get(day)?.generations ?? 0 }));
	}

	/** Sets the bot's (`userId` absent) or a user's daily budget, in credits; null goes back to the configuration's. */
	public async setBudget(credits: number | null, userId?: string): Promise<StorageResult<CreditDay>> {
		if (userId !== undefined && !isSnowflake(userId)) return failure('INVALID_NAME', 'That is not a Discord user id.');
		if (credits !== null && !(Number.isFinite(credits) && credits >= 0 && credits <= 1e9)) {
			return failure('INVALID_INPUT', 'A credit budget is a number of credits from 0 to 1000000000.');
		}
		await this.#ledger().setCreditBudget(userId === undefined ? 'global' : `u:${userId}`, credits === null ? null : toMilli(credits));
		return this.today(userId);
	}

	async #budget(scope: string): Promise<number | null> {
		const stored = await this.#ledger().creditBudget(scope === 'global' ? 'global' : `u:${scope}`);
		if (stored !== null) return stored;
		const configured = scope === 'global' ? this.#options.dailyCreditBudget : this.#options.userDailyCreditBudget;
		return configured === undefined ? null : toMilli(configured);
	}
}

function nullable(milli: number | null): number | null {
	return milli === null ? null : fromMilli(milli);
}
