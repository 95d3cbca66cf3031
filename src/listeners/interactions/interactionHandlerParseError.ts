import { ApplyOptions } from '@sapphire/decorators';
import { Events, Listener, type InteractionHandlerParseError as ParseErrorPayload } from '@sapphire/framework';
import { describeInteraction, reportInteractionError } from '../../lib/discord/errorReply.js';

/** An interaction handler whose parse step threw (it should not: it only reads the custom id). */
@ApplyOptions<Listener.Options>({ event: Events.InteractionHandlerParseError })
export class InteractionHandlerParseErrorListener extends Listener<typeof Events.InteractionHandlerParseError> {
	public override async run(error: unknown, { interaction, handler }: ParseErrorPayload) {
		await reportInteractionError(interaction, error, `${handler.name} parse (${describeInteraction(interaction)})`);
	}
}
