import { ApplyOptions } from '@sapphire/decorators';
import { Command } from '@sapphire/framework';
import { ASPECT_RATIOS, MAX_SEED } from '../plugins/generation/index.js';
import { styleChoices } from '../lib/responses/autocompleteChoices.js';
import { NEGATIVE_PROMPT_MAX_LENGTH, PROMPT_MAX_LENGTH } from '../lib/discord/limits.js';
import { replyWithJob } from '../lib/jobs/jobReply.js';
import { defineCommand } from '../lib/discord/defineCommand.js';

const ASPECT_NAMES: Record<string, string> = {
	'1:1': '1:1 square',
	'16:9': '16:9 landscape',
	'21:9': '21:9 wide',
	'3:2': '3:2 photo',
	'5:4': '5:4',
	'4:5': '4:5 portrait',
	'2:3': '2:3 portrait photo',
	'9:16': '9:16 phone',
	'9:21': '9:21 tall'
};

/**
 * No quota preconditions: they would read the ledger before the reply is deferred. The job's reservation is the
 * quota check (see replyWithJob), and its denial is the same private message.
 */
@ApplyOptions<Command.Options>({ description: 'Create an image from a text prompt' })
export class ImagineCommand extends Command {
	public override registerApplicationCommands(registry: Command.Registry) {
		registry.registerChatInputCommand((builder) =>
			defineCommand(builder, this)
				.addStringOption((option) =>
					option.setName('prompt').setDescription('What to draw').setRequired(true).setMinLength(1).setMaxLength(PROMPT_MAX_LENGTH)
				)
				.addStringOption((option) => option.setName('style').setDescription('A style preset').setAutocomplete(true))
				.addStringOption((option) =>
					option
						.setName('aspect')
						.setDescription('Shape of the image (default square)')
						.addChoices(ASPECT_RATIOS.map((ratio) => ({ name: ASPECT_NAMES[ratio] ?? ratio, value: ratio })))
				)
				.addStringOption((option) =>
					option.setName('negative').setDescription('What to keep out of the image').setMaxLength(NEGATIVE_PROMPT_MAX_LENGTH)
				)
				.addIntegerOption((option) =>
					option.setName('seed').setDescription('Same seed, same prompt: same image (default random)').setMinValue(0).setMaxValue(MAX_SEED)
				)
		);
	}

	public override chatInputRun(interaction: Command.ChatInputCommandInteraction) {
		return replyWithJob(interaction, {
			kind: 'text-to-image',
			request: {
				prompt: interaction.options.getString('prompt', true),
				stylePreset: interaction.options.getString('style') ?? undefined,
				aspectRatio: interaction.options.getString('aspect') ?? undefined,
				negativePrompt: interaction.options.getString('negative') ?? undefined,
				seed: interaction.options.getInteger('seed') ?? undefined
			}
		});
	}

	public override autocompleteRun(interaction: Command.AutocompleteInteraction) {
		return interaction.respond(styleChoices(this.container.generator.getAvailableStyles(), interaction.options.getFocused()));
	}
}
