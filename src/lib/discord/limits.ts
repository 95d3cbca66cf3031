import { BYTES_PER_MB } from '../../plugins/storage/units.js';

/**
 * Discord's limits, in one place, as Discord's API documentation gives them (message, embed and component limits;
 * the attachment size by the server's boost tier).
 * Lengths are counted in UTF-16 code units, which is never less than what Discord counts, so text that
 * fits here fits there.
 */
export const EmbedLimits = {
	title: 256,
	description: 4096,
	fields: 25,
	fieldName: 256,
	fieldValue: 1024,
	footerText: 2048,
	authorName: 256,
	/** Across every embed of one message. */
	total: 6000,
	embedsPerMessage: 10
} as const;

export const MessageLimits = {
	content: 2000,
	customId: 100,
	buttonLabel: 80,
	buttonsPerRow: 5,
	rows: 5
} as const;

export const CommandLimits = {
	name: 32,
	description: 100,
	options: 25,
	choices: 25,
	choiceName: 100,
	choiceValue: 100
} as const;

/** Per-file upload limit when the interaction does not say (Discord's default since January 2025). */
export const DEFAULT_ATTACHMENT_LIMIT = 10 * BYTES_PER_MB;

/** An interaction token lives 15 minutes; after that only the channel can be written to. */
export const INTERACTION_TOKEN_LIFETIME_MS = 15 * 60_000;

/** The upload limit of this interaction (it grows with a server's boosts). */
export function attachmentLimitOf(interaction: { attachmentSizeLimit?: number | null }): number {
	const limit = interaction.attachmentSizeLimit;
	return typeof limit === 'number' && Number.isFinite(limit) && limit > 0 ? limit : DEFAULT_ATTACHMENT_LIMIT;
}

/** Longest prompt the commands accept: every provider takes at least this many characters (Stability v1's limit). */
export const PROMPT_MAX_LENGTH = 2000;
export const NEGATIVE_PROMPT_MAX_LENGTH = 1000;
