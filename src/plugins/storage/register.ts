import { container, Plugin, postInitialization, preLogin, SapphireClient } from '@sapphire/framework';
import type { ClientOptions } from 'discord.js';
import { resolveStorageOptions } from './options.js';
import { loadQuotaPreconditions } from './preconditions/_load.js';
import { StorageManager, type StorageLogger } from './StorageManager.js';
import './index.js';

/**
 * `import 'sapphire-imagine/storage/register'` adds `container.storage` and the DailyLimit, UserStorage and
 * GlobalStorage preconditions to any Sapphire bot. Options are checked when the client is constructed,
 * so a typo fails at start-up with the field's name; the ledger opens (and reconciles) before login.
 */
export class StoragePlugin extends Plugin {
	public static override [postInitialization](this: SapphireClient, options: ClientOptions): void {
		resolveStorageOptions(options.storage);
		loadQuotaPreconditions();
	}

	public static override async [preLogin](this: SapphireClient, options: ClientOptions): Promise<void> {
		const logger: StorageLogger = {
			info: (message, details) => container.logger.info(message, details ?? ''),
			warn: (message, details) => container.logger.warn(message, details ?? ''),
			error: (message, details) => container.logger.error(message, details ?? '')
		};
		container.storage = await StorageManager.open(resolveStorageOptions(options.storage), { logger });
		container.storage.startAutomaticCleanup();
	}
}

SapphireClient.plugins.registerPostInitializationHook(StoragePlugin[postInitialization], 'Storage-PostInitialization');
SapphireClient.plugins.registerPreLoginHook(StoragePlugin[preLogin], 'Storage-PreLogin');
