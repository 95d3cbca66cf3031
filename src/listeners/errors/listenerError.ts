import { ApplyOptions } from '@sapphire/decorators';
import { Events, Listener, type ListenerErrorPayload } from '@sapphire/framework';

/**
 * A listener that threw. The framework's own error listeners are off (`loadDefaultErrorListeners: false`,
 * or every error would be logged twice), so this one and the others in listeners/ are the only reporters.
 */
@ApplyOptions<Listener.Options>({ event: Events.ListenerError })
export class ListenerErrorListener extends Listener<typeof Events.ListenerError> {
	public override run(error: unknown, { piece }: ListenerErrorPayload) {
		this.container.logger.error(`The ${piece.name} listener (event ${String(piece.event)}) failed`, error);
	}
}
