import { ApplyOptions } from '@sapphire/decorators';
import { Command } from '@sapphire/framework';
import { replyWithAttachmentJob } from '../lib/jobs/jobReply.js';
import { defineCommand } from '../lib/discord/defineCommand.js';

/**
 * No quota preconditions: they would read the ledger before the reply is deferred. The job's reservation is the
 * quota check (see replyWithJob), and its denial is the same private message.
 */
@ApplyOptions<Command.Options>({ description: 'Upscale an attached image to twice its size' })
export class UpscaleCommand extends Command {
	public override registerApplicationCommands(registry: Command.Registry) {
		registry.registerChatInputCommand((builder) =>
			defineCommand(builder, this).addAttachmentOption((option) =>
				option.setName('image').setDescription('The image to upscale (PNG, JPEG, WebP or GIF)').setRequired(true)
			)
		);
	}

	public override chatInputRun(interaction: Command.ChatInputCommandInteraction) {
		return replyWithAttachmentJob(interaction, (image) => ({ kind: 'upscale', request: { image } }));
	}
}
