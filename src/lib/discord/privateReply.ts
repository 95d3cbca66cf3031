import { MessageFlags, type EmbedBuilder, type Interaction } from 'discord.js';

/**
 * Answers an interaction so only the caller sees it, whatever state it is in: a fresh one gets an
 * ephemeral reply; a deferred or answered one an ephemeral follow-up (and a deferred command's public
 * "thinking…" is removed); an autocomplete gets an empty list.
 */
export async function replyPrivately(interaction: Interaction, embeds: EmbedBuilder[]): Promise<void> {
	if (interaction.isAutocomplete()) {
		if (!interaction.responded) await interaction.respond([]);
		return;
	}
	if (!interaction.isRepliable()) return;
	if (!interaction.deferred && !interaction.replied) {
		await interaction.reply({ embeds, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
		return;
	}
	await interaction.followUp({ embeds, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
	// A component's deferral may be an update of the message it sits on: never delete that message.
	if (interaction.deferred && !interaction.replied && !interaction.isMessageComponent())
		await interaction.deleteReply().catch(() => undefined);
}
