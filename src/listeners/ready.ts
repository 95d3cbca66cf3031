import { ApplyOptions } from '@sapphire/decorators';
import { ApplicationCommandRegistries, Events, Listener } from '@sapphire/framework';
import type { Client } from 'discord.js';
import { readyReport } from '../lib/readyReport.js';

/**
 * Once, when the bot is connected: who it is, the provider, the limits and where images are kept; then the
 * invite link, the servers it is in and where its commands are registered (lib/readyReport.ts).
 */
@ApplyOptions<Listener.Options>({ event: Events.ClientReady, once: true })
export class ReadyListener extends Listener<typeof Events.ClientReady> {
	public override run(client: Client<true>) {
		const generator = this.container.generator.describe();
		const { options } = this.container.storage;
		const { logger } = this.container;
		const provider = generator.preview ? 'preview (offline placeholders)' : `${generator.provider} (${generator.model})`;
		logger.info(
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
		const report = readyReport({
			// The application's id is the invite's client_id; a bot user's id usually equals it, but not always.
			applicationId: client.application.id,
			servers: [...client.guilds.cache.values()].map((guild) => ({ id: guild.id, name: guild.name })),
			commandGuildIds: ApplicationCommandRegistries.getDefaultGuildIds() ?? []
		});
		for (const line of report) logger[line.level](line.message, line.details);
	}
}
