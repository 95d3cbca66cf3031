/**
 * Discord's JSON error bodies, as its API documents them ("JSON Error Codes", "HTTP Response Codes"):
 * `{ message, code }`, plus `errors` for an invalid form body. Written from the public docs, not from
 * discord.js, so a client that misreads them fails here as it would against Discord.
 */
export interface DiscordErrorBody {
	message: string;
	code: number;
	errors?: unknown;
}

export interface DiscordError {
	status: number;
	body: DiscordErrorBody;
}

function error(status: number, code: number, message: string): DiscordError {
	return { status, body: { code, message } };
}

export const DiscordErrors = {
	/** A missing or rejected bot token (any authenticated route). */
	unauthorized: () => error(401, 0, '401: Unauthorized'),
	/** A route that does not exist. */
	notFound: () => error(404, 0, '404: Not Found'),
	unknownChannel: () => error(404, 10003, 'Unknown Channel'),
	unknownGuild: () => error(404, 10004, 'Unknown Guild'),
	unknownMessage: () => error(404, 10008, 'Unknown Message'),
	unknownWebhook: () => error(404, 10015, 'Unknown Webhook'),
	unknownApplicationCommand: () => error(404, 10063, 'Unknown application command'),
	/** A callback for an interaction Discord no longer knows: its 3 seconds passed unanswered, or its token expired. */
	unknownInteraction: () => error(404, 10062, 'Unknown interaction'),
	/** A second callback for the same interaction. */
	alreadyAcknowledged: () => error(400, 40060, 'Interaction has already been acknowledged.'),
	/** A webhook call with an interaction token that has expired (15 minutes). */
	invalidWebhookToken: () => error(401, 50027, 'Invalid Webhook Token'),
	/** A file over the upload limit. */
	entityTooLarge: () => error(413, 40005, 'Request entity too large'),
	emptyMessage: () => error(400, 50006, 'Cannot send an empty message'),
	invalidFormBody: (errors: unknown): DiscordError => ({ status: 400, body: { code: 50035, message: 'Invalid Form Body', errors } })
} as const;
