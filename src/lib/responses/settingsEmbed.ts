import type { EmbedBuilder } from 'discord.js';
import type { BlockView, GuildSettings, ListedEntry } from '../../plugins/storage/controls/Controls.js';
import { fittedEmbed } from './fitEmbed.js';
import { Colors } from './theme.js';

/** Where the settings are shown: whether the bot's owner allows the laxer setting, whether this channel is age-restricted. */
export interface SettingsContext {
	nsfwLaxAllowed: boolean;
	ageRestrictedHere: boolean;
}

/** `/imagine-settings`: what the server's admins set, and what it means for members. */
export function buildSettingsEmbed(settings: GuildSettings, context: SettingsContext, note?: string): EmbedBuilder {
	const mentions = (ids: string[] | null, mention: (id: string) => string, every: string) => (ids ? ids.map(mention).join(', ') : every);
	return fittedEmbed({
		color: settings.enabled ? Colors.success : Colors.warning,
		title: 'Image generation in this server',
		...(note ? { description: note } : {}),
		fields: [
			{ name: 'Generation', value: settings.enabled ? 'On' : 'Off', inline: true },
			{
				name: 'Daily limit per member',
				value: settings.memberDailyGens === null ? "The bot's own" : `${settings.memberDailyGens} (or the bot's, if lower)`,
				inline: true
			},
			{
				name: 'Daily total of the server',
				value: settings.guildDailyGens === null ? 'None' : String(settings.guildDailyGens),
				inline: true
			},
			{ name: 'Channels', value: mentions(settings.channelIds, (id) => `<#${id}>`, 'Every channel') },
			{ name: 'Roles', value: mentions(settings.roleIds, (id) => `<@&${id}>`, 'Everyone') },
			{ name: 'Age-restricted channels', value: ageRestrictedLine(settings, context) }
		]
	});
}

function ageRestrictedLine(settings: GuildSettings, { nsfwLaxAllowed, ageRestrictedHere }: SettingsContext): string {
	if (!nsfwLaxAllowed) {
		return settings.nsfwLax
			? "Laxer setting on, but the bot's owner does not allow it: no effect"
			: "Same rules as elsewhere (the bot's owner does not allow a laxer setting)";
	}
	if (!settings.nsfwLax) return 'Same rules as elsewhere';
	return (
		"Laxer: this server's own blocklist does not apply there, and the provider's moderation is lower where it has a lower level" +
		(ageRestrictedHere ? ' (in force in this channel)' : '')
	);
}

/** The server's own prompt blocklist (shown to its admins only). */
export function buildBlocklistEmbed(entries: readonly ListedEntry[], note?: string): EmbedBuilder {
	return fittedEmbed({
		color: Colors.neutral,
		title: "This server's prompt blocklist",
		description: `${note ? `${note}\n\n` : ''}${entries.length === 0 ? 'Empty.' : entries.map((row) => `\`${row.entry}\``).join(', ')}`
	});
}

/** A member blocked (or unblocked) in this server. */
export function buildBlockEmbed(userId: string, block: BlockView | null): EmbedBuilder {
	const until = block?.until ? ` until <t:${Math.floor(block.until.getTime() / 1000)}:f>` : '';
	return fittedEmbed({
		color: block ? Colors.denied : Colors.success,
		title: block ? 'Member blocked' : 'Member unblocked',
		description: block
			? `<@${userId}> cannot generate images in this server${until}.${block.reason ? ` Reason: ${block.reason}` : ''}`
			: `<@${userId}> can generate images in this server again.`
	});
}
