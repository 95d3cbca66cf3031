import { ApplyOptions } from '@sapphire/decorators';
import { Command } from '@sapphire/framework';
import { MessageFlags } from 'discord.js';
import { checkDeclaredImage, downloadAttachment } from '../lib/responses/attachmentInput.js';
import { styleChoices } from '../lib/responses/autocompleteChoices.js';
import { PROMPT_MAX_LENGTH } from '../lib/responses/discordLimits.js';
import { buildFailureEmbed } from '../lib/responses/failureEmbed.js';
import { replyWithJob } from '../lib/responses/jobReply.js';
import { defineCommand } from '../lib/responses/commandDefinition.js';

@ApplyOptions<Command.Options>({
	description: 'Create a new image from an attached image and a prompt',
	preconditions: ['DailyLimit', 'UserStorage', 'GlobalStorage']
})
export class ReimagineCommand extends Command {
	public override registerApplicationCommands(registry: Command.Registry) {
		registry.registerChatInputCommand((builder) =>
			defineCommand(builder, this)
				.addAttachmentOption((option) =>
					option.setName('image').setDescription('The image to start from (PNG, JPEG, WebP or GIF)').setRequired(true)
				)
				.addStringOption((option) =>
					option
						.setName('prompt')
						.setDescription('What the new image should show')
						.setRequired(true)
						.setMinLength(1)
						.setMaxLength(PROMPT_MAX_LENGTH)
				)
				.addNumberOption((option) =>
					option
						.setName('strength')
						.setDescription('How far to move from the original: 0 keeps it, 1 ignores it (default 0.35)')
						.setMinValue(0)
						.setMaxValue(1)
				)
				.addStringOption((option) => option.setName('style').setDescription('A style preset').setAutocomplete(true))
		);
	}

	public override async chatInputRun(interaction: Command.ChatInputCommandInteraction) {
		const attachment = interaction.options.getAttachment('image', true);
		const { maxInputMb, maxInputMegapixels } = this.container.generator.options;
		const limits = { maxBytes: maxInputMb * 1024 * 1024, maxPixels: maxInputMegapixels * 1e6 };
		const declared = checkDeclaredImage(attachment, limits);
		if (!declared.ok) return interaction.reply({ embeds: [buildFailureEmbed(declared)], flags: MessageFlags.Ephemeral });

		return replyWithJob(interaction, async () => {
			const image = await downloadAttachment(attachment, limits.maxBytes);
			if (!image.ok) return image;
			return {
				kind: 'image-to-image',
				request: {
					image: image.data,
					prompt: interaction.options.getString('prompt', true),
					strength: interaction.options.getNumber('strength') ?? undefined,
					stylePreset: interaction.options.getString('style') ?? undefined
				}
			};
		});
	}

	public override autocompleteRun(interaction: Command.AutocompleteInteraction) {
		return interaction.respond(styleChoices(this.container.generator.getAvailableStyles(), interaction.options.getFocused()));
	}
}
