import { ApplyOptions } from '@sapphire/decorators';
import { Subcommand } from '@sapphire/plugin-subcommands';
import { MessageFlags } from 'discord.js';
import { buildCleanupEmbed } from '../lib/responses/adminEmbeds.js';
import { buildReportEmbed } from '../lib/responses/reportEmbed.js';
import { defineCommand } from '../lib/discord/defineCommand.js';

/** Owner only: hidden from members by default permissions (0), and refused to anyone else by OwnerOnly. */
@ApplyOptions<Subcommand.Options>({
	description: "The bot's image storage (owners only)",
	preconditions: ['OwnerOnly'],
	subcommands: [
		{ name: 'report', chatInputRun: 'chatInputReport' },
		{ name: 'cleanup', chatInputRun: 'chatInputCleanup' }
	]
})
export class StorageCommand extends Subcommand {
	public override registerApplicationCommands(registry: Subcommand.Registry) {
		registry.registerChatInputCommand((builder) =>
			defineCommand(builder, this, 'owners')
				.addSubcommand((command) => command.setName('report').setDescription('Disk use, temp files and the users storing the most'))
				.addSubcommand((command) => command.setName('cleanup').setDescription('Remove temp files older than the clean-up age now'))
		);
	}

	public async chatInputReport(interaction: Subcommand.ChatInputCommandInteraction) {
		const report = await this.container.storage.getReport();
		return interaction.reply({ embeds: [buildReportEmbed(report)], flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
	}

	public async chatInputCleanup(interaction: Subcommand.ChatInputCommandInteraction) {
		await interaction.deferReply({ flags: MessageFlags.Ephemeral });
		const result = await this.container.storage.cleanupOldFiles();
		return interaction.editReply({ embeds: [buildCleanupEmbed(result, this.container.storage.options.cleanupDays)] });
	}
}
