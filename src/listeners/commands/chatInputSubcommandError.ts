import { ApplyOptions } from '@sapphire/decorators';
import { Listener } from '@sapphire/framework';
import { SubcommandPluginEvents, type ChatInputSubcommandErrorPayload } from '@sapphire/plugin-subcommands';
import { reportInteractionError } from '../../lib/discord/errorReply.js';

/** The subcommands plugin catches its subcommands' errors and emits this instead of chatInputCommandError. */
@ApplyOptions<Listener.Options>({ event: SubcommandPluginEvents.ChatInputSubcommandError })
export class ChatInputSubcommandErrorListener extends Listener<typeof SubcommandPluginEvents.ChatInputSubcommandError> {
	public override async run(error: unknown, { interaction, matchedSubcommandMapping }: ChatInputSubcommandErrorPayload) {
		await reportInteractionError(interaction, error, `/${interaction.commandName} ${matchedSubcommandMapping.name}`);
	}
}
