import { ExitCode } from '../../cli/exitCodes.js';
import { ConfigError, loadConfig, loadDotEnv, requireDiscordToken, type AppConfig } from '../config.js';

export interface SetupIo {
	error: (message: string) => void;
	exit: (code: number) => never;
}

const processIo: SetupIo = { error: (message) => console.error(message), exit: (code) => process.exit(code) };

/**
 * Reads .env and the environment and checks them, DISCORD_TOKEN included. A missing or malformed value
 * stops start-up with one message naming the variable and exit code 2, before anything is opened.
 */
export function readConfiguration(env: NodeJS.ProcessEnv = process.env, io: SetupIo = processIo): { config: AppConfig; token: string } {
	try {
		if (env === process.env) loadDotEnv();
		const config = loadConfig(env);
		return { config, token: requireDiscordToken(config) };
	} catch (error) {
		if (!(error instanceof ConfigError)) throw error;
		io.error(`sapphire-imagine cannot start:\n${error.message}`);
		return io.exit(ExitCode.Usage);
	}
}
