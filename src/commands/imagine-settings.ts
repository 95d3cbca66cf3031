import { ApplyOptions } from '@sapphire/decorators';
import { Subcommand } from '@sapphire/plugin-subcommands';
import { MessageFlags, type EmbedBuilder } from 'discord.js';
import { defineCommand } from '../lib/discord/defineCommand.js';
import { buildFailureEmbed } from '../lib/responses/failureEmbed.js';
import { buildBlockEmbed, buildBlocklistEmbed, buildSettingsEmbed } from '../lib/responses/settingsEmbed.js';
import type { Failure } from '../plugins/shared/Failure.js';
import type { GuildSettings } from '../plugins/storage/controls/Controls.js';
import { isAgeRestricted } from '../lib/discord/ageRestricted.js';

const HOUR_MS = 3_600_000;

/**
 * A server's own controls, for its admins: Manage Server by default permissions (a server may grant it to others,
 * its own choice), servers only. Everything stays within the owner's caps: a server's daily limit only ever
 * tightens the owner's, and its blocklist adds to the owner's. Each answer is private; the reply is deferred first.
 */
@ApplyOptions<Subcommand.Options>({
	description: "This server's image generation settings (Manage Server)",
	subcommands: [
		{ name: 'show', chatInputRun: 'chatInputShow' },
		{ name: 'generation', chatInputRun: 'chatInputGeneration' },
		{ name: 'channels', chatInputRun: 'chatInputChannels' },
		{ name: 'roles', chatInputRun: 'chatInputRoles' },
		{ name: 'daily', chatInputRun: 'chatInputDaily' },
		{ name: 'age-restricted', chatInputRun: 'chatInputAgeRestricted' },
		{ name: 'blocklist', chatInputRun: 'chatInputBlocklist' },
		{ name: 'block', chatInputRun: 'chatInputBlock' },
		{ name: 'unblock', chatInputRun: 'chatInputUnblock' }
	]
})
export class ImagineSettingsCommand extends Subcommand {
	public override registerApplicationCommands(registry: Subcommand.Registry) {
		registry.registerChatInputCommand((builder) =>
			defineCommand(builder, this, 'server-admins')
				.addSubcommand((command) => command.setName('show').setDescription('Show the settings in force here'))
				.addSubcommand((command) =>
					command
						.setName('generation')
						.setDescription('Turn image generation on or off in this server')
						.addBooleanOption((option) => option.setName('on').setDescription('On (true) or off (false)').setRequired(true))
				)
				.addSubcommand((command) =>
					command
						.setName('channels')
						.setDescription('Where generation works: add or remove a channel, or allow every channel')
						.addChannelOption((option) => option.setName('add').setDescription('A channel where it works'))
						.addChannelOption((option) => option.setName('remove').setDescription('A channel to take off the list'))
						.addBooleanOption((option) => option.setName('everywhere').setDescription('Every channel (clears the list)'))
				)
				.addSubcommand((command) =>
					command
						.setName('roles')
						.setDescription('Who may generate: add or remove a role, or allow everyone')
						.addRoleOption((option) => option.setName('add').setDescription('A role allowed to generate'))
						.addRoleOption((option) => option.setName('remove').setDescription('A role to take off the list'))
						.addBooleanOption((option) => option.setName('everyone').setDescription('Everyone (clears the list)'))
				)
				.addSubcommand((command) =>
					command
						.setName('daily')
						.setDescription("Daily limits here: per member (the bot's own applies if lower) and for the whole server")
						.addIntegerOption((option) =>
							option.setName('limit').setDescription("Per member; leave out to use the bot's own").setMinValue(0).setMaxValue(10_000)
						)
						.addIntegerOption((option) =>
							option
								.setName('server-total')
								.setDescription('All members together; leave out for no total')
								.setMinValue(0)
								.setMaxValue(1_000_000)
						)
				)
				.addSubcommand((command) =>
					command
						.setName('age-restricted')
						.setDescription("A laxer setting in age-restricted channels: no server blocklist there (the bot owner's applies)")
						.addBooleanOption((option) =>
							option.setName('lax').setDescription('On (true) or off (false); needs the bot owner to allow it').setRequired(true)
						)
				)
				.addSubcommand((command) =>
					command
						.setName('blocklist')
						.setDescription("Words a prompt may not contain here (besides the bot owner's list)")
						.addStringOption((option) =>
							option.setName('add').setDescription('Words or phrases to add, separated by commas').setMaxLength(1000)
						)
						.addStringOption((option) =>
							option.setName('remove').setDescription('Words or phrases to remove, separated by commas').setMaxLength(1000)
						)
				)
				.addSubcommand((command) =>
					command
						.setName('block')
						.setDescription('Stop a member from generating in this server')
						.addUserOption((option) => option.setName('user').setDescription('Who').setRequired(true))
						.addStringOption((option) => option.setName('reason').setDescription('Why (they see it)').setMaxLength(200))
						.addIntegerOption((option) =>
							option.setName('hours').setDescription('For how long (default: until unblocked)').setMinValue(1).setMaxValue(8760)
						)
				)
				.addSubcommand((command) =>
					command
						.setName('unblock')
						.setDescription('Let a member generate in this server again')
						.addUserOption((option) => option.setName('user').setDescription('Who').setRequired(true))
				)
		);
	}

	public async chatInputShow(interaction: Subcommand.ChatInputCommandInteraction) {
		const guildId = await this.#deferred(interaction);
		if (!guildId) return;
		return this.#answer(interaction, this.#settingsEmbed(interaction, await this.container.storage.controls.settingsOf(guildId)));
	}

	public async chatInputGeneration(interaction: Subcommand.ChatInputCommandInteraction) {
		const guildId = await this.#deferred(interaction);
		if (!guildId) return;
		const changed = await this.container.storage.controls.changeSettings(guildId, { enabled: interaction.options.getBoolean('on', true) });
		return this.#answer(interaction, changed.ok ? this.#settingsEmbed(interaction, changed.settings) : changed);
	}

	public async chatInputChannels(interaction: Subcommand.ChatInputCommandInteraction) {
		const guildId = await this.#deferred(interaction);
		if (!guildId) return;
		const changed = await this.container.storage.controls.changeGate(guildId, 'channelIds', {
			add: interaction.options.getChannel('add')?.id,
			remove: interaction.options.getChannel('remove')?.id,
			everywhere: interaction.options.getBoolean('everywhere') ?? false
		});
		return this.#answer(interaction, changed.ok ? this.#settingsEmbed(interaction, changed.settings) : changed);
	}

	public async chatInputRoles(interaction: Subcommand.ChatInputCommandInteraction) {
		const guildId = await this.#deferred(interaction);
		if (!guildId) return;
		const changed = await this.container.storage.controls.changeGate(guildId, 'roleIds', {
			add: interaction.options.getRole('add')?.id,
			remove: interaction.options.getRole('remove')?.id,
			everywhere: interaction.options.getBoolean('everyone') ?? false
		});
		return this.#answer(interaction, changed.ok ? this.#settingsEmbed(interaction, changed.settings) : changed);
	}

	public async chatInputDaily(interaction: Subcommand.ChatInputCommandInteraction) {
		const guildId = await this.#deferred(interaction);
		if (!guildId) return;
		const changed = await this.container.storage.controls.changeSettings(guildId, {
			memberDailyGens: interaction.options.getInteger('limit'),
			guildDailyGens: interaction.options.getInteger('server-total')
		});
		return this.#answer(interaction, changed.ok ? this.#settingsEmbed(interaction, changed.settings) : changed);
	}

	public async chatInputAgeRestricted(interaction: Subcommand.ChatInputCommandInteraction) {
		const guildId = await this.#deferred(interaction);
		if (!guildId) return;
		const changed = await this.container.storage.controls.changeSettings(guildId, { nsfwLax: interaction.options.getBoolean('lax', true) });
		return this.#answer(interaction, changed.ok ? this.#settingsEmbed(interaction, changed.settings) : changed);
	}

	public async chatInputBlocklist(interaction: Subcommand.ChatInputCommandInteraction) {
		const guildId = await this.#deferred(interaction);
		if (!guildId) return;
		const controls = this.container.storage.controls;
		const words = (name: string) =>
			(interaction.options.getString(name) ?? '')
				.split(',')
				.map((word) => word.trim())
				.filter(Boolean);
		const [added, removed] = [words('add'), words('remove')];
		if (added.length > 0) {
			const changed = await controls.addToBlocklist(added, guildId);
			if (!changed.ok) return this.#answer(interaction, changed);
		}
		if (removed.length > 0) {
			const changed = await controls.removeFromBlocklist(removed, guildId);
			if (!changed.ok) return this.#answer(interaction, changed);
		}
		const listed = await controls.blocklist(guildId);
		return this.#answer(interaction, listed.ok ? buildBlocklistEmbed(listed.entries) : listed);
	}

	public async chatInputBlock(interaction: Subcommand.ChatInputCommandInteraction) {
		const guildId = await this.#deferred(interaction);
		if (!guildId) return;
		const user = interaction.options.getUser('user', true);
		const hours = interaction.options.getInteger('hours');
		const blocked = await this.container.storage.controls.block(user.id, {
			guildId,
			reason: interaction.options.getString('reason'),
			until: hours ? new Date(Date.now() + hours * HOUR_MS) : null
		});
		return this.#answer(interaction, blocked.ok ? buildBlockEmbed(user.id, blocked.block) : blocked);
	}

	public async chatInputUnblock(interaction: Subcommand.ChatInputCommandInteraction) {
		const guildId = await this.#deferred(interaction);
		if (!guildId) return;
		const user = interaction.options.getUser('user', true);
		const lifted = await this.container.storage.controls.unblock(user.id, guildId);
		return this.#answer(interaction, lifted.ok ? buildBlockEmbed(user.id, null) : lifted);
	}

	/** Defers privately, first; the server's id, or null (answered) outside a server. */
	async #deferred(interaction: Subcommand.ChatInputCommandInteraction): Promise<string | null> {
		await interaction.deferReply({ flags: MessageFlags.Ephemeral });
		if (interaction.guildId) return interaction.guildId;
		await interaction.editReply({
			embeds: [buildFailureEmbed({ message: 'These settings belong to a server: use this command in one.' })]
		});
		return null;
	}

	#settingsEmbed(interaction: Subcommand.ChatInputCommandInteraction, settings: GuildSettings): EmbedBuilder {
		return buildSettingsEmbed(settings, {
			nsfwLaxAllowed: this.container.storage.controls.nsfwLaxAllowed,
			ageRestrictedHere: isAgeRestricted(interaction.channel)
		});
	}

	#answer(interaction: Subcommand.ChatInputCommandInteraction, answer: EmbedBuilder | Failure) {
		return interaction.editReply({ embeds: ['ok' in answer ? buildFailureEmbed(answer) : answer] });
	}
}
