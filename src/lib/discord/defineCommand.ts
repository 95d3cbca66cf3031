import { ApplicationIntegrationType, InteractionContextType, PermissionFlagsBits, type SlashCommandBuilder } from 'discord.js';

/**
 * What every slash command of this bot declares the same way: its name and description, usable in servers
 * and in the bot's DMs, installed to servers. Owners' commands are also hidden from members by default
 * permissions (the OwnerOnly precondition is the real gate; this keeps them out of members' menus). A server
 * admins' command works in servers only, for members with Manage Server unless the server grants it otherwise.
 */
export function defineCommand(
	builder: SlashCommandBuilder,
	command: { name: string; description: string },
	audience: 'members' | 'owners' | 'server-admins' = 'members'
) {
	builder
		.setName(command.name)
		.setDescription(command.description)
		.setContexts(
			...(audience === 'server-admins' ? [InteractionContextType.Guild] : [InteractionContextType.Guild, InteractionContextType.BotDM])
		)
		.setIntegrationTypes(ApplicationIntegrationType.GuildInstall);
	if (audience === 'owners') return builder.setDefaultMemberPermissions(0);
	if (audience === 'server-admins') return builder.setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild);
	return builder;
}
