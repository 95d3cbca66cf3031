import { ApplyOptions } from '@sapphire/decorators';
import { InteractionHandler, InteractionHandlerTypes } from '@sapphire/framework';
import { MessageFlags, type ButtonInteraction } from 'discord.js';
import { notYours } from '../lib/responses/buttonNotices.js';
import { parseGalleryPageId, type GalleryPageTarget } from '../lib/discord/customIds.js';
import { buildFailureEmbed } from '../lib/responses/failureEmbed.js';
import { renderGalleryPage } from '../lib/images/contactSheet.js';
import { requesterOf } from '../lib/discord/requester.js';

/** Previous / next under `/images list`: redraws the contact sheet for the page in the button's id. */
@ApplyOptions<InteractionHandler.Options>({ interactionHandlerType: InteractionHandlerTypes.Button })
export class GalleryButtonsHandler extends InteractionHandler {
	public override parse(interaction: ButtonInteraction) {
		const target = parseGalleryPageId(interaction.customId);
		return target ? this.some(target) : this.none();
	}

	public override async run(interaction: ButtonInteraction, { ownerId, page }: GalleryPageTarget) {
		if (interaction.user.id !== ownerId) return interaction.reply({ embeds: [notYours(ownerId)], flags: MessageFlags.Ephemeral });
		await interaction.deferUpdate();
		const listed = await this.container.storage.getUserImages(ownerId);
		if (!listed.ok) return interaction.followUp({ embeds: [buildFailureEmbed(listed)], flags: MessageFlags.Ephemeral });
		const requester = requesterOf(interaction);
		const view = await renderGalleryPage({ ownerId, ownerName: requester.name, images: listed.images, page });
		return interaction.editReply({ embeds: view.embeds, files: view.files, components: view.components, attachments: [] });
	}
}
