import type { QuotaStatus } from './QuotaStatus.js';
import { formatDuration, formatMb } from './units.js';

export type StorageFailureReason = 'DAILY_LIMIT' | 'USER_QUOTA' | 'GLOBAL_QUOTA' | 'INVALID_NAME' | 'INVALID_IMAGE' | 'NOT_FOUND' | 'IO';

/** An expected failure: a value with a code and a message a Discord user understands, never an exception. */
export interface StorageFailure {
	ok: false;
	reason: StorageFailureReason;
	message: string;
	/** The quota status at the time of a quota denial, so a bot can render it. */
	status?: QuotaStatus;
}

export type StorageResult<T extends object> = ({ ok: true } & T) | StorageFailure;

export function failure(reason: StorageFailureReason, message: string, status?: QuotaStatus): StorageFailure {
	return status ? { ok: false, reason, message, status } : { ok: false, reason, message };
}

/** The denial a user sees for a quota that is full, with what to do about it. */
export function quotaDenial(reason: 'DAILY_LIMIT' | 'USER_QUOTA' | 'GLOBAL_QUOTA', status: QuotaStatus, now: number): StorageFailure {
	switch (reason) {
		case 'DAILY_LIMIT': {
			const { used, pending, limit, resetsAt } = status.daily;
			const running = pending > 0 ? `, ${pending} still running` : '';
			return failure(
				reason,
				`Daily generation limit reached (${used + pending}/${limit}${running}). Resets in ${formatDuration(resetsAt.getTime() - now)}.`,
				status
			);
		}
		case 'USER_QUOTA':
			return failure(
				reason,
				`Your storage quota is full: ${formatMb(status.user.usedBytes)} of ${formatMb(status.user.limitBytes)} MB used. Delete images with /images delete.`,
				status
			);
		case 'GLOBAL_QUOTA':
			return failure(
				reason,
				`The bot's image storage is full (${formatMb(status.global.usedBytes)} of ${formatMb(status.global.totalBytes)} MB used). Try again later; the bot owner can free space with /storage cleanup.`,
				status
			);
	}
}

export const messages = {
	invalidUser: 'That is not a Discord user id.',
	invalidImageId: 'That is not an image id: image ids are 16 letters and digits, as shown by /images list.',
	invalidName: 'That image name is not allowed: use up to 64 letters, digits, spaces, dots, dashes or underscores.',
	invalidImage: 'That file is not an image this bot can store (PNG, JPEG, WebP or GIF).',
	notFound: 'No image with that id in your gallery. See /images list for your images.',
	ioSave: 'The image could not be saved: the server could not write it to disk. Nothing was stored or charged.',
	ledgerUnavailable: 'Your quota could not be checked right now, so nothing was started. Try again in a minute.',
	diskFull: "The bot's disk is full, so nothing was started or charged. Try again later.",
	ioDelete: 'The image could not be deleted: the server could not remove it from disk. Try again later.'
} as const;
