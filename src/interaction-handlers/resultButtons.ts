import { ApplyOptions } from '@sapphire/decorators';
import { InteractionHandler, InteractionHandlerTypes } from '@sapphire/framework';
import { MessageFlags, type ButtonInteraction } from 'discord.js';
import { nearestAspectRatio } from '../plugins/generation/index.js';
import { parseResultButtonId, type ResultButtonTarget } from '../lib/discord/customIds.js';
import { buildFailureEmbed } from '../lib/responses/failureEmbed.js';
import { detailsOf } from '../lib/responses/imageDetails.js';
import { replyWithJob } from '../lib/jobs/jobReply.js';
import { deletedImageEmbed } from '../lib/responses/resultMessage.js';
import { imageGone, notYours } from '../lib/responses/buttonNotices.js';

/**
 * The buttons under a result: Upscale, Re-roll, Vary, Delete. The custom id carries the owner and the
 * image id, so they work after a restart; only the owner may press them. Generations go through the same
 * guarded job as the commands, so the quotas hold for buttons too.
 */
@ApplyOptions<InteractionHandler.Options>({ interactionHandlerType: InteractionHandlerTypes.Button })
export class ResultButtonsHandler extends InteractionHandler {
	public override parse(interaction: ButtonInteraction) {
		const target = parseResultButtonId(interaction.customId);
		return target ? this.some(target) : this.none();
	}

	public override async run(interaction: ButtonInteraction, { action, ownerId, imageId }: ResultButtonTarget) {
		if (interaction.user.id !== ownerId) return interaction.reply({ embeds: [notYours(ownerId)], flags: MessageFlags.Ephemeral });
		if (action === 'delete') {
			const deleted = await this.container.storage.deleteImage(ownerId, imageId);
			if (!deleted.ok)
				return interaction.reply({
					embeds: [deleted.reason === 'NOT_FOUND' ? imageGone() : buildFailureEmbed(deleted)],
					flags: MessageFlags.Ephemeral
				});
			return interaction.update({ content: '', embeds: [deletedImageEmbed(imageId, deleted.freedMb)], components: [], attachments: [] });
		}

		// The stored image is read once the reply is deferred: a file read must not delay the acknowledgement.
		return replyWithJob(interaction, async () => {
			const found = await this.container.storage.readImage(ownerId, imageId);
			if (!found.ok) return { ...found, embed: found.reason === 'NOT_FOUND' ? imageGone() : undefined };
			const details = detailsOf(found.image);
			switch (action) {
				case 'upscale':
					return { kind: 'upscale', request: { image: found.data }, sourceImageId: imageId };
				case 'vary':
					return {
						kind: 'image-to-image',
						request: { image: found.data, prompt: details.prompt ?? '', stylePreset: details.style ?? undefined },
						sourceImageId: imageId
					};
				case 'reroll':
					return {
						kind: 'text-to-image',
						request: {
							prompt: details.prompt ?? '',
							negativePrompt: details.negativePrompt ?? undefined,
							stylePreset: details.style ?? undefined,
							aspectRatio: details.width && details.height ? nearestAspectRatio(details.width, details.height) : undefined
						}
					};
			}
		});
	}
}
