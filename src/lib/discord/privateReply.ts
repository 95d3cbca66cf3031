import { MessageFlags, type EmbedBuilder, type Interaction } from 'discord.js';

/** What a public "thinking…" says in the moment between its end and its removal. */
const SENT_PRIVATELY = 'The answer was sent to you privately.';

export interface PrivateReplyOptions {
	/** The public reply shows only progress (a job's "queued"/"generating" line): remove it too. */
	replacesProgress?: boolean;
}

/**
 * Answers an interaction so only the caller sees it, whatever state it is in: a fresh one gets an ephemeral
 * reply; one deferred privately gets its reply edited (it is private already); an answered one, or a
 * component's deferred update, an ephemeral follow-up; an autocomplete an empty list.
 *
 * A reply deferred publicly and still "thinking…" needs care: Discord gives the first follow-up of such a
 * deferral the deferral's own visibility (the follow-up replaces the public "thinking…"), so an ephemeral
 * follow-up sent then would be public. The deferral is ended first with a short note, the follow-up is then
 * a message of its own and stays ephemeral, and the public reply is removed.
 */
export async function replyPrivately(interaction: Interaction, embeds: EmbedBuilder[], options: PrivateReplyOptions = {}): Promise<void> {
	if (interaction.isAutocomplete()) {
		if (!interaction.responded) await interaction.respond([]);
		return;
	}
	if (!interaction.isRepliable()) return;
	const message = { embeds, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } } as const;
	if (!interaction.deferred && !interaction.replied) {
		await interaction.reply(message);
		return;
	}
	// `ephemeral` is set by deferReply (true or false) and left null by a component's deferUpdate.
	const thinking = interaction.deferred && !interaction.replied && interaction.ephemeral !== null;
	if (thinking && interaction.ephemeral) {
		await interaction.editReply({ content: '', embeds, components: [], files: [], allowedMentions: { parse: [] } });
		return;
	}
	if (thinking)
		await interaction.editReply({ content: SENT_PRIVATELY, embeds: [], components: [], files: [], allowedMentions: { parse: [] } });
	await interaction.followUp(message);
	if (thinking || options.replacesProgress) await interaction.deleteReply().catch(() => undefined);
}
