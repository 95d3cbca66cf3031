import { ApplyOptions } from '@sapphire/decorators';
import { Events, Listener, type Command } from '@sapphire/framework';

/** Registering a slash command with Discord failed (see listenerError.ts for why the bot logs this itself). */
@ApplyOptions<Listener.Options>({ event: Events.CommandApplicationCommandRegistryError })
export class CommandRegistryErrorListener extends Listener<typeof Events.CommandApplicationCommandRegistryError> {
	public override run(error: unknown, command: Command) {
		this.container.logger.error(`Registering /${command.name} with Discord failed`, error);
	}
}
