import type { SapphireClient } from '@sapphire/framework';

/**
 * Sapphire picks `import()` or `require()` for piece files from the package.json of the working
 * directory, so a bot started from elsewhere (`node /srv/bot/dist/esm/index.js` from `/`, a process manager)
 * would `require()` ES modules and load no command at all. This bot is ES modules wherever it starts.
 */
export function loadPiecesAsEsModules(client: SapphireClient): void {
	for (const store of client.stores.values()) {
		const strategy = store.strategy as { clientUsesESModules?: boolean };
		if ('clientUsesESModules' in strategy) strategy.clientUsesESModules = true;
	}
}
