import { container } from '@sapphire/framework';
import type { Interaction } from 'discord.js';
import { buildErrorEmbed, newErrorReference } from '../responses/errorEmbed.js';
import { replyPrivately } from './privateReply.js';

/**
 * An unexpected error: the details go to the log under a short reference, the user gets a friendly
 * private message with that reference. Returns the reference.
 */
export async function reportInteractionError(interaction: Interaction, error: unknown, where: string): Promise<string> {
	const reference = newErrorReference();
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
