/** Node runs a timer longer than 2^31 - 1 ms (about 24.8 days) at once, with a warning, instead of late. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface RepeatingTimer {
	cancel(): void;
}

/**
 * `setInterval` for any interval: a long one (a monthly clean-up) is waited out in chunks Node can time, so the
 * task runs once per interval, never in a tight loop. The timer does not keep the process alive.
 */
export function setLongInterval(task: () => void, intervalMs: number): RepeatingTimer {
	if (!(intervalMs > 0) || !Number.isFinite(intervalMs))
		throw new RangeError(`interval must be a positive number of ms (got ${intervalMs})`);
	let timer: NodeJS.Timeout | undefined;
	let cancelled = false;
	const wait = (remaining: number) => {
		timer = setTimeout(
			() => {
				if (cancelled) return;
				if (remaining > MAX_TIMER_MS) return wait(remaining - MAX_TIMER_MS);
				task();
				if (!cancelled) wait(intervalMs);
			},
			Math.min(remaining, MAX_TIMER_MS)
		);
		timer.unref();
	};
	wait(intervalMs);
	return {
		cancel: () => {
			cancelled = true;
			clearTimeout(timer);
		}
	};
}
