import { PluginHook, SapphireClient } from '@sapphire/framework';
import type { ClientOptions } from 'discord.js';

/**
 * A real SapphireClient brought to the state `login()` leaves it in, minus the gateway: the plugins'
 * pre-login hooks run and every store loads (virtual pieces included), exactly as `login` does them.
 */
export async function startWithoutGateway(options: Partial<ClientOptions> = {}): Promise<SapphireClient> {
	const client = new SapphireClient({ intents: [], baseUserDirectory: null, ...options });
	await loginWithoutGateway(client);
	return client;
}

/** What `login()` does before it contacts Discord: the pre-login hooks, then every store loads. */
export async function loginWithoutGateway(client: SapphireClient): Promise<void> {
	for (const plugin of SapphireClient.plugins.values(PluginHook.PreLogin)) await plugin.hook.call(client, client.options);
	await Promise.all([...client.stores.values()].map((store) => store.loadAll()));
}
