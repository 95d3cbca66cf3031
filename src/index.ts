import './plugins/storage/register.js';
import './plugins/generation/register.js';
import { container, SapphireClient } from '@sapphire/framework';
import { GatewayIntentBits } from 'discord.js';
import { ConfigError, loadConfig, loadDotEnv, requireDiscordToken } from './lib/config.js';
import { createLogger, PinoSapphireLogger } from './lib/logger.js';

/** Exit codes shared with the command-line tool: 2 is bad configuration. */
const EXIT_CONFIG = 2;
const EXIT_FAILURE = 1;

function readConfiguration() {
	try {
		loadDotEnv();
		const config = loadConfig();
		return { config, token: requireDiscordToken(config) };
	} catch (error) {
		if (!(error instanceof ConfigError)) throw error;
		console.error(`sapphire-imagine cannot start:\n${error.message}`);
		process.exit(EXIT_CONFIG);
	}
}

const { config, token } = readConfiguration();
const logger = createLogger({ level: config.logLevel, secrets: config.secrets });

const client = new SapphireClient({
	// Slash commands only: the Guilds intent carries interactions, roles and channels; nothing privileged.
	intents: [GatewayIntentBits.Guilds],
	loadMessageCommandListeners: false,
	logger: { instance: new PinoSapphireLogger(logger) },
	storage: config.storage,
	generation: config.generation
});

let stopping = false;
async function shutdown(signal: string) {
	if (stopping) return;
	stopping = true;
	logger.info({ signal, runningJobs: container.imageJobs.running }, 'Shutting down: finishing running jobs');
	// Running jobs get a minute to finish; the rest are cancelled and their quota released.
	const jobs = await container.imageJobs.drain(60_000);
	logger.info(jobs, 'Jobs settled');
	await client.destroy();
	await container.generator.close();
	await container.storage?.close();
	process.exit(0);
}
process.once('SIGINT', (signal) => void shutdown(signal));
process.once('SIGTERM', (signal) => void shutdown(signal));

try {
	await client.login(token);
	const { options } = container.storage;
	logger.info(
		{
			user: client.user?.tag,
			...container.generator.describe(),
			storageRoot: options.storageRoot,
			limits: { dailyGens: options.maxUserDailyGens, userMb: options.maxUserStorageMb, globalMb: options.maxGlobalStorageMb }
		},
		'Ready'
	);
} catch (error) {
	const code = (error as { code?: string }).code;
	const reason =
		code === 'TokenInvalid'
			? 'Discord rejected DISCORD_TOKEN: reset it in the Developer Portal and update .env.'
			: code === 'ENOTFOUND' || code === 'ECONNREFUSED' || code === 'ETIMEDOUT'
				? `Could not reach Discord (${code}): check this machine's network.`
				: 'Could not log in to Discord.';
	logger.fatal({ err: error }, reason);
	await client.destroy();
	await container.storage?.close();
	process.exit(EXIT_FAILURE);
}
