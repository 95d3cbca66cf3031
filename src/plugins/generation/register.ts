import { container, Plugin, postInitialization, SapphireClient } from '@sapphire/framework';
import type { ClientOptions } from 'discord.js';
import { ImageGenerator } from './ImageGenerator.js';
import { ImageJobs } from './ImageJobs.js';
import './index.js';

/**
 * `import 'sapphire-imagine/generation/register'` adds `container.generator` and `container.imageJobs`.
 * With the storage plugin registered too, every job is held to the quotas and its image stored.
 */
export class GenerationPlugin extends Plugin {
	public static override [postInitialization](this: SapphireClient, options: ClientOptions): void {
		// Rate windows are kept in the storage's ledger when the storage plugin is registered: every shard (and host)
		// then stays under the provider key's limit together.
		const generator = ImageGenerator.create(options.generation, {
			sharedRateWindows: (key, maxPerWindow, windowMs) =>
				'storage' in container ? container.storage.rateWindow(key, maxPerWindow, windowMs) : undefined
		});
		container.generator = generator;
		// The storage plugin is optional: without it, jobs run unguarded and store nothing. When it is registered it puts
		// `storage` on the container as the client logs in, so whether it is there is read at each job.
		container.imageJobs = new ImageJobs(generator, () => ('storage' in container ? container.storage : undefined));
		const described = generator.describe();
		if (!described.configured) {
			container.logger.warn(`Image generation is not configured: ${generator.options.notConfigured}. Commands will say so.`);
		} else if (described.preview && !options.generation?.provider) {
			container.logger.warn('No Stability API key: images come from the offline preview provider (placeholders, clearly marked).');
		}
	}
}

SapphireClient.plugins.registerPostInitializationHook(GenerationPlugin[postInitialization], 'Generation-PostInitialization');
