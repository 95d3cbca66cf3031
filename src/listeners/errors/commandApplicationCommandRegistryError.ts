import { ApplyOptions } from '@sapphire/decorators';
import { Events, Listener, type Command } from '@sapphire/framework';

/** Registering a command with Discord failed: it will not appear in the command picker until the next start. */
@ApplyOptions<Listener.Options>({ event: Events.CommandApplicationCommandRegistryError })
export class CommandApplicationCommandRegistryErrorListener extends Listener<typeof Events.CommandApplicationCommandRegistryError> {
	public override run(error: unknown, command: Command) {
		this.container.logger.error(`Could not register /${command.name} with Discord`, error);
	}
}
