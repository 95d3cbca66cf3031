import { container } from '@sapphire/framework';
import type { Interaction } from 'discord.js';
import { buildErrorEmbed, newErrorReference } from '../responses/errorEmbed.js';
import { isExpiredInteraction } from './apiErrors.js';
import { replyPrivately } from './privateReply.js';

/**
 * An unexpected error: the details go to the log under a short reference, the user gets a friendly
 * private message with that reference. Returns the reference. An interaction Discord no longer takes
 * answers on (it arrived too late to be acknowledged in 3 s, or its token is spent) gets no second answer,
 * which could only fail the same way: one warning says so.
 */
export async function reportInteractionError(interaction: Interaction, error: unknown, where: string): Promise<string> {
	const reference = newErrorReference();
	if (isExpiredInteraction(error)) {
		container.logger.warn(
			`${where}: Discord no longer takes answers on this interaction (not acknowledged within 3 s, or its token expired) [ref ${reference}]`,
			{ reference, userId: interaction.user.id, guildId: interaction.guildId, code: (error as { code?: unknown }).code }
		);
		return reference;
	}
	container.logger.error(
		`${where} failed [ref ${reference}]`,
		{ reference, userId: interaction.user.id, guildId: interaction.guildId },
		error
	);
	try {
		await replyPrivately(interaction, [buildErrorEmbed(reference)]);
	} catch (replyError) {
		container.logger.warn(`Could not tell the user about error ${reference}`, replyError);
	}
	return reference;
}

/** The name of what an interaction ran, for the log: `/images list`, `button imagine:upscale:…`. */
export function describeInteraction(interaction: Interaction): string {
	if (interaction.isChatInputCommand()) {
		const sub = interaction.options.getSubcommand(false);
		return `/${interaction.commandName}${sub ? ` ${sub}` : ''}`;
	}
	if (interaction.isAutocomplete()) return `autocomplete /${interaction.commandName}`;
	if (interaction.isMessageComponent()) return `component ${interaction.customId}`;
	return `interaction ${interaction.type}`;
}
