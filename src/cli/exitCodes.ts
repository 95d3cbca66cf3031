/** The command's exit status, the same for every command (scripts and cron branch on it). */
export const ExitCode = {
	/** Done. */
	Ok: 0,
	/** It failed: an image that is not there, a disk or ledger error, or a bug. */
	Failure: 1,
	/** Bad usage (unknown option, malformed id or number) or bad configuration (environment, .env). */
	Usage: 2,
	/** Denied by a quota (the daily limit, the user's storage or the global cap) or by an owner's control (a blocked user or prompt, too many jobs). */
	QuotaDenied: 3,
	/** The image provider failed or is not configured. */
	ProviderFailure: 4
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

const byReason: Readonly<Record<string, ExitCode>> = {
	DAILY_LIMIT: ExitCode.QuotaDenied,
	USER_QUOTA: ExitCode.QuotaDenied,
	GLOBAL_QUOTA: ExitCode.QuotaDenied,
	USER_BLOCKED: ExitCode.QuotaDenied,
	NOT_HERE: ExitCode.QuotaDenied,
	PROMPT_BLOCKED: ExitCode.QuotaDenied,
	TOO_MANY_JOBS: ExitCode.QuotaDenied,
	CREDIT_BUDGET: ExitCode.QuotaDenied,
	NOT_CONFIGURED: ExitCode.ProviderFailure,
	UNSUPPORTED: ExitCode.ProviderFailure,
	CONTENT_FILTERED: ExitCode.ProviderFailure,
	RATE_LIMITED: ExitCode.ProviderFailure,
	AUTH: ExitCode.ProviderFailure,
	TIMEOUT: ExitCode.ProviderFailure,
	UNAVAILABLE: ExitCode.ProviderFailure,
	PROVIDER_ERROR: ExitCode.ProviderFailure,
	INVALID_INPUT: ExitCode.Usage,
	INVALID_NAME: ExitCode.Usage,
	INVALID_IMAGE: ExitCode.Usage,
	USAGE: ExitCode.Usage,
	CONFIG: ExitCode.Usage
};

/** The exit code for a failure reason a service (or the CLI itself) returned; anything unknown is a plain failure. */
export function exitCodeOf(reason: string): ExitCode {
	return byReason[reason] ?? ExitCode.Failure;
}
