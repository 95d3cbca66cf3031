import { DiscordErrors } from './discordErrors.js';
import { isEmptyMessage, largestFile, resolveAttachments, type MessageBody } from './messageBodies.js';
import { Permission, snowflake } from './payloads.js';
import type { Route, RouteEnvironment } from './restServer.js';
import { uploadLimitOf } from './discordState.js';

/**
 * Channel and guild routes: reading a channel or a server, and `POST /channels/:id/messages`, which a bot
 * uses when an interaction's token can no longer answer. Sending needs the bot's View Channel and Send
 * Messages permissions (403 50013 otherwise), files need Attach Files, as on Discord.
 */
export function channelRoutes(env: RouteEnvironment): Route[] {
	const { state } = env;
	return [
		{
			method: 'GET',
			path: '/channels/:channelId',
			auth: true,
			handle: ({ params }) => {
				const found = state.channel(params.channelId!);
				return found ? { status: 200, body: found.channel } : DiscordErrors.unknownChannel();
			}
		},
		{
			method: 'GET',
			path: '/guilds/:guildId',
			auth: true,
			handle: ({ params }) => {
				const guild = state.guilds.get(params.guildId!);
				if (!guild) return DiscordErrors.unknownGuild();
				const { members: _members, channels: _channels, ...rest } = state.guildCreate(guild) as unknown as Record<string, unknown>;
				return { status: 200, body: rest };
			}
		},
		{
			method: 'GET',
			path: '/channels/:channelId/messages/:messageId',
			auth: true,
			handle: ({ params }) => {
				const stored = state.messages.get(params.messageId!);
				if (!state.channel(params.channelId!)) return DiscordErrors.unknownChannel();
				return stored && stored.message.channel_id === params.channelId
					? { status: 200, body: stored.message }
					: DiscordErrors.unknownMessage();
			}
		},
		{
			method: 'POST',
			path: '/channels/:channelId/messages',
			auth: true,
			handle: ({ params, body }) => {
				const found = state.channel(params.channelId!);
				if (!found) return DiscordErrors.unknownChannel();
				const permissions = state.permissionsOf(found.guild, state.bot.id);
				const data = (body.json ?? {}) as MessageBody;
				const needed = Permission.ViewChannel | Permission.SendMessages | (body.files.length > 0 ? Permission.AttachFiles : 0n);
				if ((permissions & needed) !== needed) return { status: 403, body: { code: 50013, message: 'Missing Permissions' } };
				if (isEmptyMessage(data, body.files)) return DiscordErrors.emptyMessage();
				if (largestFile(body.files) > uploadLimitOf(found.guild.premiumTier)) return DiscordErrors.entityTooLarge();
				const created = state.storeMessage(
					{
						id: snowflake(),
						channelId: found.channel.id,
						guildId: found.guild.id,
						author: state.bot,
						content: data.content ?? '',
						embeds: data.embeds ?? [],
						components: data.components ?? [],
						attachments: resolveAttachments(state, env.baseUrl(), found.channel.id, data, body.files, [], false),
						flags: 0
					},
					null
				);
				return { status: 200, body: created };
			}
		}
	];
}
