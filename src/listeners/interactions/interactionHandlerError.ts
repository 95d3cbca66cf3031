import { ApplyOptions } from '@sapphire/decorators';
import { Events, Listener, type InteractionHandlerError } from '@sapphire/framework';
import { describeInteraction, reportInteractionError } from '../../lib/discord/errorReply.js';

/** A button (or other interaction handler) that threw. */
@ApplyOptions<Listener.Options>({ event: Events.InteractionHandlerError })
export class InteractionHandlerErrorListener extends Listener<typeof Events.InteractionHandlerError> {
	public override async run(error: unknown, { interaction, handler }: InteractionHandlerError) {
		await reportInteractionError(interaction, error, `${handler.name} (${describeInteraction(interaction)})`);
	}
}
