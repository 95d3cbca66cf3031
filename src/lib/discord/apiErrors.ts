import { DiscordAPIError, RESTJSONErrorCodes } from 'discord.js';

/**
 * Discord takes no more answers on this interaction: the 3 s to acknowledge it had passed when the first
 * answer arrived (Unknown interaction), or its 15-minute token is spent. Answering again fails the same way.
 */
const EXPIRED_CODES = new Set<number>([RESTJSONErrorCodes.UnknownInteraction, RESTJSONErrorCodes.InvalidWebhookToken]);

/** The interaction's reply cannot be written any more: its token is spent, or the reply (or its webhook) is gone. */
const REPLY_GONE_CODES = new Set<number>([
	RESTJSONErrorCodes.InvalidWebhookToken,
	RESTJSONErrorCodes.UnknownWebhook,
	RESTJSONErrorCodes.UnknownMessage
]);

export function isExpiredInteraction(error: unknown): boolean {
	return codeOf(error) !== null && EXPIRED_CODES.has(codeOf(error) as number);
}

/** True when a result must go through the channel instead of the interaction. */
export function isReplyGone(error: unknown): boolean {
	return codeOf(error) !== null && REPLY_GONE_CODES.has(codeOf(error) as number);
}

function codeOf(error: unknown): number | null {
	return error instanceof DiscordAPIError && typeof error.code === 'number' ? error.code : null;
}
