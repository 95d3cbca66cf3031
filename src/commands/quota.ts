import { ApplyOptions } from '@sapphire/decorators';
import { Command } from '@sapphire/framework';
import { MessageFlags } from 'discord.js';
import { buildQuotaEmbed } from '../lib/responses/quotaEmbed.js';
import { requesterOf } from '../lib/discord/requester.js';
import { isAgeRestricted } from '../lib/discord/ageRestricted.js';
import { defineCommand } from '../lib/discord/defineCommand.js';

/**
 * `/quota`: the caller's own status, with no subcommands. The owners' tools live in `/quota-admin`:
 * Discord cannot hide a single subcommand from members, and a command that has subcommands cannot be run
 * bare, so one `/quota` could not be both the members' view and the hidden admin tool.
 */
@ApplyOptions<Command.Options>({ description: 'Your daily allowance and storage' })
export class QuotaCommand extends Command {
	public override registerApplicationCommands(registry: Command.Registry) {
		registry.registerChatInputCommand((builder) => defineCommand(builder, this));
	}

	public override async chatInputRun(interaction: Command.ChatInputCommandInteraction) {
		const requester = requesterOf(interaction);
		const { guildId } = interaction;
		const status = await this.container.storage.getQuotaStatus(requester.id, { roleIds: requester.roleIds, guildId });
		const lax = await this.container.storage.controls.nsfwLaxInForce({ guildId, ageRestricted: isAgeRestricted(interaction.channel) });
		const note = lax
			? "This age-restricted channel has the server's laxer setting: its own prompt blocklist does not apply here."
			: undefined;
		return interaction.reply({
			embeds: [buildQuotaEmbed(status, { name: requester.name, self: true, ...(note ? { note } : {}) })],
			flags: MessageFlags.Ephemeral
		});
	}
}
