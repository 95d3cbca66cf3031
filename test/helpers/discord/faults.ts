/** Which requests a fault applies to: a route (`POST /interactions/:id/:token/callback`), or all when unset. */
export type RouteFilter = string | undefined;

export interface RateLimitFault {
	/** Only this route; every route when unset. */
	route?: string;
	/** How many requests get a 429 before the route answers normally again (default 1). */
	times?: number;
	/** The wait Discord asks for (default 250 ms; the `Retry-After` header rounds it up to whole seconds, as Discord's does). */
	retryAfterMs?: number;
	/** `user` (a per-route bucket, the default), `shared` (a shared resource) or `global` (every route of the bot). */
	scope?: 'user' | 'shared' | 'global';
}

/**
 * Faults a test turns on and off while the stand-in runs. Each mirrors something Discord really does:
 * a reset token, a slow API, a rate limit, a gateway that refuses the login.
 */
export class Faults {
	/** Every authenticated REST route answers 401 (the bot's token was reset in the Developer Portal). */
	public rejectToken = false;
	/** The gateway closes the next IDENTIFY with this code (4004 authentication failed, 4014 disallowed intents...). */
	public closeIdentifyWith: number | null = null;
	readonly #delays: { ms: number; route: RouteFilter }[] = [];
	readonly #rateLimits: (Required<Omit<RateLimitFault, 'route'>> & { route: RouteFilter })[] = [];

	/** Holds every matching REST answer back by `ms` (the request is recorded on arrival all the same). */
	public slowRest(ms: number, route?: string): void {
		this.#delays.push({ ms, route });
	}

	/** The next matching requests answer 429 with Discord's rate-limit headers and body. */
	public rateLimit(fault: RateLimitFault = {}): void {
		this.#rateLimits.push({
			route: fault.route,
			times: fault.times ?? 1,
			retryAfterMs: fault.retryAfterMs ?? 250,
			scope: fault.scope ?? 'user'
		});
	}

	/** Turns every fault off. */
	public clear(): void {
		this.rejectToken = false;
		this.closeIdentifyWith = null;
		this.#delays.length = 0;
		this.#rateLimits.length = 0;
	}

	public delayFor(route: string | null): number {
		return this.#delays.filter((delay) => matches(delay.route, route)).reduce((total, delay) => total + delay.ms, 0);
	}

	/** Takes one 429 from the first matching rate-limit fault, if any is left. */
	public takeRateLimit(route: string | null): { retryAfterMs: number; scope: 'user' | 'shared' | 'global' } | null {
		const fault = this.#rateLimits.find((candidate) => candidate.times > 0 && matches(candidate.route, route));
		if (!fault) return null;
		fault.times--;
		return { retryAfterMs: fault.retryAfterMs, scope: fault.scope };
	}
}

function matches(filter: RouteFilter, route: string | null): boolean {
	return filter === undefined || filter === route;
}
