import { ApplicationIntegrationType, InteractionContextType, type SlashCommandBuilder } from 'discord.js';

/**
 * What every slash command of this bot declares the same way: its name and description, usable in servers
 * and in the bot's DMs, installed to servers. Owners' commands are also hidden from members by default
 * permissions (the OwnerOnly precondition is the real gate; this keeps them out of members' menus).
 */
export function defineCommand(
	builder: SlashCommandBuilder,
	command: { name: string; description: string },
	audience: 'members' | 'owners' = 'members'
) {
	builder
		.setName(command.name)
		.setDescription(command.description)
		.setContexts(InteractionContextType.Guild, InteractionContextType.BotDM)
		.setIntegrationTypes(ApplicationIntegrationType.GuildInstall);
	return audience === 'owners' ? builder.setDefaultMemberPermissions(0) : builder;
}
