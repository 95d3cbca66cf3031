import type { EmbedBuilder } from 'discord.js';
import type { BlockView, GuildSettings, ListedEntry } from '../../plugins/storage/controls/Controls.js';
import { fittedEmbed } from './fitEmbed.js';
import { Colors } from './theme.js';

/** `/imagine-settings`: what the server's admins set, and what it means for members. */
export function buildSettingsEmbed(settings: GuildSettings, note?: string): EmbedBuilder {
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
			{ name: 'Roles', value: mentions(settings.roleIds, (id) => `<@&${id}>`, 'Everyone') }
		]
	});
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
