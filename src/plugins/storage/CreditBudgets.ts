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
	guild?: CreditLine & { id: string };
}

export interface CreditBudgetOptions {
	/** Credits a day for the whole bot (DAILY_CREDIT_BUDGET); undefined: none. */
	dailyCreditBudget?: number;
	/** Credits a day for each user (USER_DAILY_CREDIT_BUDGET); undefined: none. */
	userDailyCreditBudget?: number;
	/** Credits a day for each server, all its members together (GUILD_DAILY_CREDIT_BUDGET); undefined: none. */
	guildDailyCreditBudget?: number;
}

/** Whose budget: the bot's (neither given), a user's, or a server's. */
export interface CreditScope {
	userId?: string;
	guildId?: string;
}

type Budgeted = 'global' | 'user' | 'guild';

/** Where each kind of budget is kept in the ledger (`imagine_credit_budgets`, `imagine_credit_daily`). */
function ledgerScope(kind: Budgeted, id: string): string {
	return kind === 'global' ? 'global' : `${kind === 'user' ? 'u' : 'g'}:${id}`;
}

/**
 * The daily provider-credit budgets: the bot's, each server's and each user's, from the configuration unless one was
 * set with the CLI (kept in the ledger, so every process applies it). Spending is charged through the job's
 * reservation, commit and release, like the daily count: admission counts what is spent and what running jobs hold.
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

	/** The budgets in force, in milli-credits (Number.MAX_SAFE_INTEGER: none); a job from no server has no server budget. */
	public async limits(
		userId: string,
		guildId: string | null = null
	): Promise<{ globalCredits: number; userCredits: number; guildCredits: number }> {
		const [global, user, guild] = await Promise.all([
			this.#budget('global', ''),
			this.#budget('user', userId),
			guildId === null ? null : this.#budget('guild', guildId)
		]);
		const none = Number.MAX_SAFE_INTEGER;
		return { globalCredits: global ?? none, userCredits: user ?? none, guildCredits: guild ?? none };
	}

	/** Today's spend, reserved credits and budget of the bot, and of the user and the server when given. */
	public async today(scope: CreditScope = {}): Promise<StorageResult<CreditDay>> {
		const invalid = invalidScope(scope);
		if (invalid) return invalid;
		const now = this.#clock();
		const day = utcDay(now);
		const usage = await this.#ledger().creditUsage(day, now, scope.userId ?? '', scope.guildId ?? '');
		const line = async (kind: Budgeted, id: string, spent: number, reserved: number): Promise<CreditLine> => ({
			spent: fromMilli(spent),
			reserved: fromMilli(reserved),
			budget: nullable(await this.#budget(kind, id))
		});
		const result: CreditDay = { day, global: await line('global', '', usage.globalSpent, usage.globalReserved) };
		if (scope.userId !== undefined) {
			result.user = { id: scope.userId, ...(await line('user', scope.userId, usage.userSpent, usage.userReserved)) };
		}
		if (scope.guildId !== undefined) {
			result.guild = { id: scope.guildId, ...(await line('guild', scope.guildId, usage.guildSpent, usage.guildReserved)) };
		}
		return { ok: true, ...result };
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

	/**
	 * Sets the daily budget, in credits, of the bot (scope empty), of a user or of a server (one of them); null goes
	 * back to the configuration's.
	 */
	public async setBudget(credits: number | null, scope: CreditScope = {}): Promise<StorageResult<CreditDay>> {
		const invalid = invalidScope(scope);
		if (invalid) return invalid;
		if (scope.userId !== undefined && scope.guildId !== undefined) {
			return failure('INVALID_INPUT', 'A credit budget is set for the bot, for one user or for one server, not for two at once.');
		}
		if (credits !== null && !(Number.isFinite(credits) && credits >= 0 && credits <= 1e9)) {
			return failure('INVALID_INPUT', 'A credit budget is a number of credits from 0 to 1000000000.');
		}
		const key =
			scope.userId !== undefined
				? ledgerScope('user', scope.userId)
				: scope.guildId !== undefined
					? ledgerScope('guild', scope.guildId)
					: ledgerScope('global', '');
		await this.#ledger().setCreditBudget(key, credits === null ? null : toMilli(credits));
		return this.today(scope);
	}

	async #budget(kind: Budgeted, id: string): Promise<number | null> {
		const stored = await this.#ledger().creditBudget(ledgerScope(kind, id));
		if (stored !== null) return stored;
		const configured =
			kind === 'global'
				? this.#options.dailyCreditBudget
				: kind === 'user'
					? this.#options.userDailyCreditBudget
					: this.#options.guildDailyCreditBudget;
		return configured === undefined ? null : toMilli(configured);
	}
}

function invalidScope(scope: CreditScope) {
	if (scope.userId !== undefined && !isSnowflake(scope.userId)) return failure('INVALID_NAME', 'That is not a Discord user id.');
	if (scope.guildId !== undefined && !isSnowflake(scope.guildId)) return failure('INVALID_NAME', 'That is not a Discord server id.');
	return null;
}

function nullable(milli: number | null): number | null {
	return milli === null ? null : fromMilli(milli);
}
