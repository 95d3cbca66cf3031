import { failureOf, type Failure, type Outcome } from '../shared/Failure.js';
import type { QuotaStatus } from './QuotaStatus.js';
import type { StorageMessages } from './StorageMessages.js';

export type StorageFailureReason =
	| 'USER_BLOCKED'
	| 'NOT_HERE'
	| 'PROMPT_BLOCKED'
	| 'TOO_MANY_JOBS'
	| 'CREDIT_BUDGET'
	| 'DAILY_LIMIT'
	| 'USER_QUOTA'
	| 'GLOBAL_QUOTA'
	| 'INVALID_INPUT'
	| 'INVALID_NAME'
	| 'INVALID_IMAGE'
	| 'NOT_FOUND'
	| 'IO';

/** The storage plugin's failures: the one failure shape, with the storage reasons (quota denials carry `status`). */
export type StorageFailure = Failure<StorageFailureReason>;

export type StorageResult<T extends object> = Outcome<T, StorageFailureReason>;

export function failure(reason: StorageFailureReason, message: string, status?: QuotaStatus): StorageFailure {
	return failureOf(reason, message, status ? { status } : {});
}

/** The denial a user sees for a quota that is full, worded by `messages`. */
export function quotaDenial(
	reason: 'DAILY_LIMIT' | 'USER_QUOTA' | 'GLOBAL_QUOTA',
	status: QuotaStatus,
	now: number,
	messages: StorageMessages
): StorageFailure {
	switch (reason) {
		case 'DAILY_LIMIT':
			return failure(reason, messages.dailyLimit(status, status.daily.resetsAt.getTime() - now), status);
		case 'USER_QUOTA':
			return failure(reason, messages.userQuota(status), status);
		case 'GLOBAL_QUOTA':
			return failure(reason, messages.globalQuota(status), status);
	}
}
