import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url));

export default defineConfig({
	resolve: {
		// The drop-in test bot imports the plugins by their published names. The built package maps these
		// subpaths to dist/ through package.json "exports"; in tests they map to the sources.
		alias: [
			{ find: /^sapphire-imagine\/storage\/register$/, replacement: src('plugins/storage/register.ts') },
			{ find: /^sapphire-imagine\/generation\/register$/, replacement: src('plugins/generation/register.ts') },
			{ find: /^sapphire-imagine\/storage$/, replacement: src('plugins/storage/index.ts') },
			{ find: /^sapphire-imagine\/generation$/, replacement: src('plugins/generation/index.ts') }
		]
	},
	test: {
		environment: 'node',
		// Tests use real SQLite files and child processes: give slow machines room.
		testTimeout: 30_000,
		hookTimeout: 30_000,
		pool: 'forks',
		projects: [
			{ extends: true, test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, 'test/packaging/**'] } },
			{
				extends: true,
				test: {
					// Packs the package and installs it into generated bots from the npm registry (sqlite3 compiles from
					// source): minutes, not seconds. It runs after the unit project, never beside it on the shared cores.
					name: 'packaging',
					include: ['test/packaging/**/*.test.ts'],
					testTimeout: 120_000,
					hookTimeout: 1_200_000,
					sequence: { groupOrder: 1 }
				}
			}
		]
	}
});
