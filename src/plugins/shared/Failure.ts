import type { QuotaStatus } from '../storage/QuotaStatus.js';

/**
 * The one shape of an expected failure, in both plugins and the bot: a value, never an exception, so a caller
 * cannot forget to handle it and a reply can always be built from it.
 */
export interface Failure<Reason extends string = string> {
	readonly ok: false;
	readonly reason: Reason;
	/** A default wording for the user; it names no command (the plugins do not know the bot's commands). */
	readonly message: string;
	/** With a quota denial: the status that refused it, for a bot that renders its own answer. */
	readonly status?: QuotaStatus;
	/** With a rate limit: how long to wait before trying again. */
	readonly retryAfterMs?: number;
}

/** A success (`ok: true` with its fields) or a failure of one of `Reason`. */
export type Outcome<T extends object, Reason extends string = string> = ({ readonly ok: true } & T) | Failure<Reason>;

export function failureOf<Reason extends string>(
	reason: Reason,
	message: string,
	details: Pick<Failure, 'status' | 'retryAfterMs'> = {}
): Failure<Reason> {
	return { ok: false, reason, message, ...details };
}
