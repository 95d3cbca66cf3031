import { ApplyOptions } from '@sapphire/decorators';
import { Subcommand } from '@sapphire/plugin-subcommands';
import { AttachmentBuilder, MessageFlags } from 'discord.js';
import { buildCleanupEmbed } from '../lib/responses/adminEmbeds.js';
import { buildReportEmbed } from '../lib/responses/reportEmbed.js';
import { renderUsageChart } from '../lib/images/usageChart.js';
import { defineCommand } from '../lib/discord/defineCommand.js';

const USAGE_CHART_NAME = 'usage.png';

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

	/** Deferred first: the ledger reads and the chart's drawing may take longer than Discord's 3 s under load. */
	public async chatInputReport(interaction: Subcommand.ChatInputCommandInteraction) {
		await interaction.deferReply({ flags: MessageFlags.Ephemeral });
		const report = await this.container.storage.getReport();
		const chart = await renderUsageChart(report).catch(() => null);
		const embed = buildReportEmbed(report);
		if (!chart) return interaction.editReply({ embeds: [embed], allowedMentions: { parse: [] } });
		return interaction.editReply({
			embeds: [embed.setImage(`attachment://${USAGE_CHART_NAME}`)],
			files: [new AttachmentBuilder(chart, { name: USAGE_CHART_NAME })],
			allowedMentions: { parse: [] }
		});
	}

	public async chatInputCleanup(interaction: Subcommand.ChatInputCommandInteraction) {
		await interaction.deferReply({ flags: MessageFlags.Ephemeral });
		const result = await this.container.storage.cleanupOldFiles();
		return interaction.editReply({ embeds: [buildCleanupEmbed(result, this.container.storage.options.cleanupDays)] });
	}
}
