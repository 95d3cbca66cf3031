/** Milliseconds since the epoch; injectable so tests can move time (the daily window resets at 00:00 UTC). */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

const DAY_MS = 86_400_000;

/** The UTC calendar day a moment falls in, as YYYY-MM-DD: the key of the daily generation counter. */
export function utcDay(ms: number): string {
	return new Date(ms).toISOString().slice(0, 10);
}

/** The next 00:00 UTC after a moment: when the daily counter resets. */
export function nextUtcMidnight(ms: number): Date {
	return new Date(Math.floor(ms / DAY_MS) * DAY_MS + DAY_MS);
}
