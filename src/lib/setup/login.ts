import { container, type SapphireClient } from '@sapphire/framework';
import { Events, GatewayCloseCodes } from 'discord.js';
import type { Logger } from 'pino';
import { StorageConfigError } from '../../plugins/storage/StorageConfigError.js';
import { ExitCode } from '../../cli/exitCodes.js';

const TOKEN_REJECTED =
	'Discord rejected DISCORD_TOKEN: reset it in the Developer Portal (your application -> Bot -> Reset Token) and update .env.';
const INTENTS_REFUSED = 'Discord refused the requested gateway intents: enable them in the Developer Portal (your application -> Bot).';

/**
 * What a failed login means, for the person starting the bot. A bad token shows up one of two ways: REST
 * answers 401 (discord.js throws TokenInvalid) or, when REST let it through, the gateway closes with 4004
 * (discord.js throws a plain "Authentication failed"): `gatewayCloseCode` is how the gateway closed, if it did.
 */
export function describeLoginFailure(error: unknown, gatewayCloseCode?: number): string {
	if (error instanceof StorageConfigError) return `The storage cannot start: ${error.message}`;
	const code = (error as { code?: unknown }).code;
	if (code === 'TokenInvalid' || gatewayCloseCode === GatewayCloseCodes.AuthenticationFailed) return TOKEN_REJECTED;
	if (code === 'DisallowedIntents' || gatewayCloseCode === GatewayCloseCodes.DisallowedIntents) return INTENTS_REFUSED;
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
	// A shard the gateway closes for good (4004, 4014...) is reported here before login() rejects.
	let gatewayCloseCode: number | undefined;
	const onShardDisconnect = (event: { code: number }) => void (gatewayCloseCode = event.code);
	client.on(Events.ShardDisconnect, onShardDisconnect);
	try {
		await client.login(token);
	} catch (error) {
		logger.fatal({ err: error, gatewayCloseCode }, describeLoginFailure(error, gatewayCloseCode));
		await client.destroy().catch(() => undefined);
		// The plugins opened the storage just before the login request: close it too (destroy closes it as well once
		// the client was built; closing twice is harmless).
		if ('storage' in container) await container.storage.close().catch(() => undefined);
		exit(error instanceof StorageConfigError ? ExitCode.Usage : ExitCode.Failure);
	} finally {
		client.off(Events.ShardDisconnect, onShardDisconnect);
	}
}
