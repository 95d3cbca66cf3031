import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url));

/** Test files that start child processes or servers of their own: the integration project. */
const INTEGRATION = [
	'test/bot/invitePermissions.test.ts',
	'test/bot/setup.test.ts',
	'test/bot/standInBot.test.ts',
	'test/bot/underLoad.test.ts',
	'test/cli/crash.test.ts',
	'test/cli/endToEnd.test.ts',
	'test/cli/hostile.test.ts',
	'test/cli/multiProcess.test.ts',
	'test/cli/reconcileUnderLoad.test.ts',
	'test/cli/doctor.test.ts',
	'test/firsthour/**/*.test.ts',
	'test/helpers/discord/standIn.test.ts',
	// Every backend, S3 included: the S3 test server is a child process.
	'test/storage/backends/**/*.test.ts',
	'test/storage/s3/**/*.test.ts',
	'test/storage/safety/keySafety.test.ts',
	'test/storage/safety/faults.test.ts',
	'test/storage/concurrency/multiProcess.test.ts',
	'test/storage/concurrency/acrossHosts.test.ts',
	'test/generation/sharedRateLimit.test.ts',
	'test/storage/concurrency/overrides.test.ts',
	'test/storage/operations/ledgerIdentity.test.ts',
	// A tiny tmpfs, mounted and unmounted by `mount`.
	'test/storage/operations/eventLog.test.ts',
	'test/storage/operations/fullDisk.test.ts'
];

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
		coverage: {
			provider: 'v8',
			include: ['src/**/*.ts'],
			reporter: ['text-summary', 'json-summary'],
			// A run with a failing test still says how much of the code the others reached.
			reportOnFailure: true
		},
		projects: [
			{
				extends: true,
				test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, 'test/packaging/**', ...INTEGRATION] }
			},
			{
				extends: true,
				// What starts other processes (the CLI, worker processes, the S3 test server, the bot beside a stand-in
				// Discord, mount): seconds per file rather than milliseconds. `npm run test:unit` leaves these out.
				test: { name: 'integration', include: INTEGRATION }
			},
			{
				extends: true,
				test: {
					// Packs the package and installs it into generated bots from the npm registry (sqlite3 compiles from
					// source): minutes, not seconds. It runs after the other projects, never beside them on the shared cores.
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
