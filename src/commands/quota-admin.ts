import { ApplyOptions } from '@sapphire/decorators';
import { Subcommand } from '@sapphire/plugin-subcommands';
import { MessageFlags } from 'discord.js';
import { buildResetEmbed } from '../lib/responses/adminEmbeds.js';
import { buildFailureEmbed } from '../lib/responses/failureEmbed.js';
import { buildQuotaEmbed } from '../lib/responses/quotaEmbed.js';
import { defineCommand } from '../lib/discord/defineCommand.js';

/**
 * The owners' quota tools. They are not subcommands of `/quota`: Discord cannot hide one subcommand from
 * members, and a command with subcommands cannot be run bare, so members keep a plain `/quota` and owners
 * get this command, hidden by default permissions (0) and refused to anyone else by OwnerOnly.
 */
@ApplyOptions<Subcommand.Options>({
	description: "Reset or set a user's limits (owners only)",
	preconditions: ['OwnerOnly'],
	subcommands: [
		{ name: 'reset', chatInputRun: 'chatInputReset' },
		{ name: 'set', chatInputRun: 'chatInputSet' }
	]
})
export class QuotaAdminCommand extends Subcommand {
	public override registerApplicationCommands(registry: Subcommand.Registry) {
		registry.registerChatInputCommand((builder) =>
			defineCommand(builder, this, 'owners')
				.addSubcommand((command) =>
					command
						.setName('reset')
						.setDescription("Give back a user's daily allowance, or delete their images")
						.addUserOption((option) => option.setName('user').setDescription('Whose quota').setRequired(true))
						.addStringOption((option) =>
							option
								.setName('what')
								.setDescription('What to reset (default: daily)')
								.addChoices(
									{ name: "daily: give back today's generations", value: 'daily' },
									{ name: 'storage: delete all their images', value: 'storage' },
									{ name: 'both', value: 'both' }
								)
						)
				)
				.addSubcommand((command) =>
					command
						.setName('set')
						.setDescription("Set a user's own limits; leave both out to go back to their tier or the defaults")
						.addUserOption((option) => option.setName('user').setDescription('Whose limits').setRequired(true))
						.addIntegerOption((option) =>
							option.setName('daily').setDescription('Generations per UTC day').setMinValue(0).setMaxValue(10_000)
						)
						.addNumberOption((option) => option.setName('storage').setDescription('Storage in MB').setMinValue(0).setMaxValue(1_000_000))
				)
		);
	}

	public async chatInputReset(interaction: Subcommand.ChatInputCommandInteraction) {
		await interaction.deferReply({ flags: MessageFlags.Ephemeral });
		const user = interaction.options.getUser('user', true);
		const what = interaction.options.getString('what') ?? 'daily';
		const reset = await this.container.storage.resetUser(user.id, { daily: what !== 'storage', storage: what !== 'daily' });
		if (!reset.ok) return interaction.editReply({ embeds: [buildFailureEmbed(reset)] });
		const outcome: Parameters<typeof buildResetEmbed>[1] = {
			...(reset.daily ? { daily: reset.daily } : {}),
			...(reset.storage
				? { storage: { deleted: reset.storage.deleted.length, failed: reset.storage.failed.length, freedMb: reset.storage.freedMb } }
				: {})
		};
		return interaction.editReply({ embeds: [buildResetEmbed(user.id, outcome)], allowedMentions: { parse: [] } });
	}

	public async chatInputSet(interaction: Subcommand.ChatInputCommandInteraction) {
		const user = interaction.options.getUser('user', true);
		const dailyGens = interaction.options.getInteger('daily') ?? undefined;
		const storageMb = interaction.options.getNumber('storage') ?? undefined;
		const override = dailyGens === undefined && storageMb === undefined ? null : { dailyGens, storageMb };
		const set = await this.container.storage.setUserLimits(user.id, override);
		if (!set.ok) return interaction.reply({ embeds: [buildFailureEmbed(set)], flags: MessageFlags.Ephemeral });
		const note = override
			? `Personal limits set for <@${user.id}>. A limit left out keeps its earlier override, or follows their tier or the defaults.`
			: `Personal limits cleared for <@${user.id}>: their tier or the defaults apply again.`;
		return interaction.reply({
			embeds: [
				buildQuotaEmbed(set.status, {
					name: user.username,
					self: false,
					note: `${note}\nRole tiers are not shown here: they depend on the server.`
				})
			],
			flags: MessageFlags.Ephemeral,
			allowedMentions: { parse: [] }
		});
	}
}
