import { container, type SapphireClient } from '@sapphire/framework';
import type { Logger } from 'pino';
import { StorageConfigError } from '../../plugins/storage/StorageConfigError.js';
import { ExitCode } from './configuration.js';

/** What a failed login means, for the person starting the bot. */
export function describeLoginFailure(error: unknown): string {
	if (error instanceof StorageConfigError) return `The storage cannot start: ${error.message}`;
	const code = (error as { code?: unknown }).code;
	if (code === 'TokenInvalid')
		return 'Discord rejected DISCORD_TOKEN: reset it in the Developer Portal (your application -> Bot -> Reset Token) and update .env.';
	if (code === 'DisallowedIntents')
		return 'Discord refused the requested gateway intents: enable them in the Developer Portal (your application -> Bot).';
	if (code === 'ENOTFOUND' || code === 'ECONNREFUSED' || code === 'ETIMEDOUT' || code === 'EAI_AGAIN') {
		return `Could not reach Discord (${String(code)}): check this machine's network.`;
	}
	return 'Could not log in to Discord.';
}

/**
 * Logs in (the plugins open the ledger just before). On failure: one clear message, the storage closed,
 * and a non-zero exit code; nothing else is left running.
 */
export async function loginOrExit(
	client: SapphireClient,
	token: string,
	logger: Logger,
	exit: (code: number) => void = (code) => process.exit(code)
) {
	try {
		await client.login(token);
	} catch (error) {
		logger.fatal({ err: error }, describeLoginFailure(error));
		await client.destroy().catch(() => undefined);
		await Reflect.get(container, 'storage')
			?.close()
			.catch(() => undefined);
		exit(error instanceof StorageConfigError ? ExitCode.Config : ExitCode.Failure);
	}
}
