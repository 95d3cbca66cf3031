import { ApplyOptions } from '@sapphire/decorators';
import { Subcommand } from '@sapphire/plugin-subcommands';
import { MessageFlags } from 'discord.js';
import { imageChoices } from '../lib/responses/autocompleteChoices.js';
import { attachmentLimitOf } from '../lib/discord/limits.js';
import { buildFailureEmbed } from '../lib/responses/failureEmbed.js';
import { renderGalleryPage } from '../lib/images/contactSheet.js';
import { imageMessageFor } from '../lib/images/imageMessage.js';
import { detailsOf } from '../lib/responses/imageDetails.js';
import { requesterOf } from '../lib/discord/requester.js';
import { deletedImageEmbed } from '../lib/responses/resultMessage.js';
import { defineCommand } from '../lib/discord/defineCommand.js';

@ApplyOptions<Subcommand.Options>({
	description: 'Your saved images',
	subcommands: [
		{ name: 'list', chatInputRun: 'chatInputList' },
		{ name: 'show', chatInputRun: 'chatInputShow' },
		{ name: 'delete', chatInputRun: 'chatInputDelete' }
	]
})
export class ImagesCommand extends Subcommand {
	public override registerApplicationCommands(registry: Subcommand.Registry) {
		registry.registerChatInputCommand((builder) =>
			defineCommand(builder, this)
				.addSubcommand((command) => command.setName('list').setDescription('Your gallery, twelve images a page'))
				.addSubcommand((command) =>
					command
						.setName('show')
						.setDescription('Show one of your images')
						.addStringOption((option) =>
							option.setName('id').setDescription('The image (type to search)').setRequired(true).setAutocomplete(true)
						)
				)
				.addSubcommand((command) =>
					command
						.setName('delete')
						.setDescription('Delete one of your images and free its space')
						.addStringOption((option) =>
							option.setName('id').setDescription('The image (type to search)').setRequired(true).setAutocomplete(true)
						)
				)
		);
	}

	public async chatInputList(interaction: Subcommand.ChatInputCommandInteraction) {
		await interaction.deferReply({ flags: MessageFlags.Ephemeral });
		const requester = requesterOf(interaction);
		const listed = await this.container.storage.getUserImages(requester.id);
		if (!listed.ok) return interaction.editReply({ embeds: [buildFailureEmbed(listed)] });
		const page = await renderGalleryPage({ ownerId: requester.id, ownerName: requester.name, images: listed.images, page: 0 });
		return interaction.editReply({ embeds: page.embeds, files: page.files, components: page.components });
	}

	public async chatInputShow(interaction: Subcommand.ChatInputCommandInteraction) {
		const requester = requesterOf(interaction);
		const found = await this.container.storage.readImage(requester.id, interaction.options.getString('id', true).trim());
		if (!found.ok) return interaction.reply({ embeds: [buildFailureEmbed(found)], flags: MessageFlags.Ephemeral });
		await interaction.deferReply();
		const message = await imageMessageFor({
			details: detailsOf(found.image),
			data: found.data,
			owner: { id: requester.id, name: requester.name, avatarUrl: requester.avatarUrl },
			attachmentLimit: attachmentLimitOf(interaction),
			heading: 'From the gallery',
			supports: this.container.generator.describe().supports
		});
		return interaction.editReply({ ...message, allowedMentions: { parse: [] } });
	}

	public async chatInputDelete(interaction: Subcommand.ChatInputCommandInteraction) {
		const deleted = await this.container.storage.deleteImage(interaction.user.id, interaction.options.getString('id', true).trim());
		const embed = deleted.ok ? deletedImageEmbed(deleted.image.id, deleted.freedMb) : buildFailureEmbed(deleted);
		return interaction.reply({ embeds: [embed], flags: MessageFlags.Ephemeral });
	}

	public override async autocompleteRun(interaction: Subcommand.AutocompleteInteraction) {
		const listed = await this.container.storage.getUserImages(interaction.user.id);
		return interaction.respond(listed.ok ? imageChoices(listed.images, interaction.options.getFocused()) : []);
	}
}
