import { ApplyOptions } from '@sapphire/decorators';
import { Command } from '@sapphire/framework';
import { styleChoices } from '../lib/responses/autocompleteChoices.js';
import { PROMPT_MAX_LENGTH } from '../lib/discord/limits.js';
import { replyWithAttachmentJob } from '../lib/jobs/jobReply.js';
import { defineCommand } from '../lib/discord/defineCommand.js';

/**
 * No quota preconditions: they would read the ledger before the reply is deferred. The job's reservation is the
 * quota check (see replyWithJob), and its denial is the same private message.
 */
@ApplyOptions<Command.Options>({ description: 'Create a new image from an attached image and a prompt' })
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

	public override chatInputRun(interaction: Command.ChatInputCommandInteraction) {
		return replyWithAttachmentJob(interaction, (image) => ({
			kind: 'image-to-image',
			request: {
				image,
				prompt: interaction.options.getString('prompt', true),
				strength: interaction.options.getNumber('strength') ?? undefined,
				stylePreset: interaction.options.getString('style') ?? undefined
			}
		}));
	}

	public override autocompleteRun(interaction: Command.AutocompleteInteraction) {
		return interaction.respond(styleChoices(this.container.generator.getAvailableStyles(), interaction.options.getFocused()));
	}
}
