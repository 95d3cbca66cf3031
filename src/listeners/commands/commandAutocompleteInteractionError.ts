import { ApplyOptions } from '@sapphire/decorators';
import { Events, Listener, type AutocompleteInteractionPayload } from '@sapphire/framework';
import { reportInteractionError } from '../../lib/discord/errorReply.js';

/** An autocomplete that threw: logged with a reference; the user gets an empty list rather than "loading failed". */
@ApplyOptions<Listener.Options>({ event: Events.CommandAutocompleteInteractionError })
export class CommandAutocompleteInteractionErrorListener extends Listener<typeof Events.CommandAutocompleteInteractionError> {
	public override async run(error: unknown, { interaction }: AutocompleteInteractionPayload) {
		await reportInteractionError(interaction, error, `autocomplete /${interaction.commandName}`);
	}
}
