import { ApplyOptions } from '@sapphire/decorators';
import { Events, Listener } from '@sapphire/framework';
import type { Client } from 'discord.js';

/** One line when the bot is connected: who it is, the provider, the limits and where images are kept. */
@ApplyOptions<Listener.Options>({ event: Events.ClientReady, once: true })
export class ReadyListener extends Listener<typeof Events.ClientReady> {
	public override run(client: Client<true>) {
		const generator = this.container.generator.describe();
		const { options } = this.container.storage;
		const provider = generator.preview ? 'preview (offline placeholders)' : `${generator.provider} (${generator.model})`;
		this.container.logger.info(
			`Ready as ${client.user.tag}: provider ${provider}${generator.configured ? '' : ' NOT CONFIGURED'}; ` +
				`limits ${options.maxUserDailyGens}/day, ${options.maxUserStorageMb} MB per user, ${options.maxGlobalStorageMb} MB in all; ` +
				`storage ${options.storageRoot}`,
			{
				user: client.user.tag,
				...generator,
				storageRoot: options.storageRoot,
				limits: { dailyGens: options.maxUserDailyGens, userMb: options.maxUserStorageMb, globalMb: options.maxGlobalStorageMb }
			}
		);
	}
}
