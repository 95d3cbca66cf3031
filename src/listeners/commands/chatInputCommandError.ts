import { ApplyOptions } from '@sapphire/decorators';
import { Events, Listener, type ChatInputCommandErrorPayload } from '@sapphire/framework';
import { reportInteractionError } from '../../lib/discord/errorReply.js';

/** A command that threw: the details go to the log under a short reference; the user gets the reference. */
@ApplyOptions<Listener.Options>({ event: Events.ChatInputCommandError })
export class ChatInputCommandErrorListener extends Listener<typeof Events.ChatInputCommandError> {
	public override async run(error: unknown, { interaction }: ChatInputCommandErrorPayload) {
		await reportInteractionError(interaction, error, `/${interaction.commandName}`);
	}
}
