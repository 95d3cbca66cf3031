import { fileURLToPath } from 'node:url';
import { ApplicationCommandRegistries, RegisterBehavior, SapphireClient } from '@sapphire/framework';
import { GatewayIntentBits, type ClientOptions } from 'discord.js';
import type { Logger } from 'pino';
import type { AppConfig } from '../config.js';
import { PinoSapphireLogger } from '../logger.js';
import { botStorageMessages } from '../responses/storageMessages.js';
import { loadPiecesAsEsModules } from './pieceLoading.js';

/** src/ under tsx, dist/ under node: where commands/, listeners/, preconditions/ and interaction-handlers/ are. */
const piecesDirectory = fileURLToPath(new URL('../../', import.meta.url));

/**
 * How the bot's client behaves, whatever its configuration (the tests start their clients with these too).
 * Slash commands only, so the Guilds intent is all it needs (interactions, roles, channels); nothing privileged.
 * The bot's own error listeners log every error once, with a reference: Sapphire's defaults would log each again.
 */
export const botClientBehaviour = {
	intents: [GatewayIntentBits.Guilds],
	loadMessageCommandListeners: false,
	// The bot's listeners/ report every error (with a reference for the user); the framework's defaults and the
	// subcommands plugin's would log each one a second time.
	loadDefaultErrorListeners: false,
	loadSubcommandErrorListeners: false
} as const satisfies Partial<ClientOptions>;

/**
 * The bot's client. Commands are registered with one bulk overwrite when they change: globally, or, with
 * COMMAND_GUILD_IDS, in those servers only, where a change shows at once (the bulk overwrite then also empties the
 * global list, so no command is listed twice).
 */
export function createClient(config: AppConfig, logger: Logger): SapphireClient {
	ApplicationCommandRegistries.setDefaultBehaviorWhenNotIdentical(RegisterBehavior.BulkOverwrite);
	ApplicationCommandRegistries.setDefaultGuildIds(config.commandGuildIds.length > 0 ? config.commandGuildIds : null);
	// Said loudly: with DISCORD_API_URL set, the token goes to that server and not to Discord.
	if (config.discordApiUrl) logger.warn(`DISCORD_API_URL is set: talking to ${config.discordApiUrl} instead of Discord (for tests only)`);
	const client = new SapphireClient({
		...(config.discordApiUrl ? { rest: { api: config.discordApiUrl } } : {}),
		...botClientBehaviour,
		intents: [...botClientBehaviour.intents],
		baseUserDirectory: piecesDirectory,
		logger: { instance: new PinoSapphireLogger(logger) },
		owners: config.ownerIds,
		storage: { ...config.storage, messages: botStorageMessages },
		generation: config.generation
	});
	loadPiecesAsEsModules(client);
	return client;
}
