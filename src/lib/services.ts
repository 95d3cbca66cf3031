import type { Logger } from 'pino';
import { ImageGenerator } from '../plugins/generation/ImageGenerator.js';
import { ImageJobs } from '../plugins/generation/ImageJobs.js';
import type { StorageOptions } from '../plugins/storage/options.js';
import { StorageManager, type StorageLogger } from '../plugins/storage/StorageManager.js';
import type { AppConfig } from './config.js';

export interface ServicesOptions {
	logger?: Logger;
	/**
	 * The storage's `reconcileOnStart`. Default `'if-empty'`: a short-lived process (the CLI) rebuilds a ledger
	 * that knows no file, but must not walk a large store on every call.
	 */
	reconcileOnStart?: StorageOptions['reconcileOnStart'];
	/** Start the storage's periodic temp clean-up (a long-running process); default false. */
	automaticCleanup?: boolean;
}

/** The bot's services without Discord: what the command-line tool and scripts use. */
export interface Services {
	readonly config: AppConfig;
	readonly storage: StorageManager;
	readonly generator: ImageGenerator;
	readonly jobs: ImageJobs;
	/**
	 * Stops taking jobs, lets running ones finish for up to `graceMs` (default 0: cancel and refund at once),
	 * then closes the provider's connections and the ledger. Calling it again returns the same promise.
	 */
	close(graceMs?: number): Promise<void>;
}

/** Builds StorageManager, ImageGenerator and ImageJobs from the configuration, as the plugins do in the bot. */
export async function createServices(config: AppConfig, options: ServicesOptions = {}): Promise<Services> {
	let storage: StorageManager | undefined;
	// As in the bot: the providers' rate windows live in the ledger, shared with the bot and its shards.
	const generator = ImageGenerator.create(config.generation, {
		sharedRateWindows: (key, maxPerWindow, windowMs) => storage?.rateWindow(key, maxPerWindow, windowMs)
	});
	try {
		storage = await StorageManager.open(
			{ ...config.storage, reconcileOnStart: options.reconcileOnStart ?? 'if-empty' },
			options.logger ? { logger: storageLoggerOf(options.logger) } : {}
		);
	} catch (error) {
		await generator.close().catch(() => undefined);
		throw error;
	}
	const opened = storage;
	if (options.automaticCleanup) opened.startAutomaticCleanup();
	const jobs = new ImageJobs(generator, () => opened);

	let closing: Promise<void> | null = null;
	return {
		config,
		storage: opened,
		generator,
		jobs,
		close: (graceMs = 0) =>
			(closing ??= (async () => {
				try {
					await jobs.drain(graceMs);
				} finally {
					await Promise.allSettled([generator.close()]);
					await opened.close();
				}
			})())
	};
}

/** The storage's (message, details) logging onto pino's (details, message). */
function storageLoggerOf(logger: Logger): StorageLogger {
	const child = logger.child({ source: 'storage' });
	return {
		info: (message, details) => child.info(details ?? {}, message),
		warn: (message, details) => child.warn(details ?? {}, message),
		error: (message, details) => child.error(details ?? {}, message)
	};
}
