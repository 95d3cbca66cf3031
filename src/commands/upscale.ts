import { ApplyOptions } from '@sapphire/decorators';
import { Command } from '@sapphire/framework';
import { MessageFlags } from 'discord.js';
import { checkDeclaredImage, downloadAttachment } from '../lib/responses/attachmentInput.js';
import { buildFailureEmbed } from '../lib/responses/failureEmbed.js';
import { replyWithJob } from '../lib/responses/jobReply.js';
import { defineCommand } from '../lib/responses/commandDefinition.js';

@ApplyOptions<Command.Options>({
	description: 'Upscale an attached image to twice its size',
	preconditions: ['DailyLimit', 'UserStorage', 'GlobalStorage']
})
export class UpscaleCommand extends Command {
	public override registerApplicationCommands(registry: Command.Registry) {
		registry.registerChatInputCommand((builder) =>
			defineCommand(builder, this).addAttachmentOption((option) =>
				option.setName('image').setDescription('The image to upscale (PNG, JPEG, WebP or GIF)').setRequired(true)
			)
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
			return image.ok ? { kind: 'upscale', request: { image: image.data } } : image;
		});
	}
}
