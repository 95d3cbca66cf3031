import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/lib/config.js';
import { resolveStorageOptions } from '../../../src/plugins/storage/options.js';
import { StorageConfigError } from '../../../src/plugins/storage/StorageConfigError.js';
import { StorageManager } from '../../../src/plugins/storage/StorageManager.js';
import { cliEnv, jsonOf, runInProcess } from '../../cli/helpers.js';
import { makeTempDir, pngBytes, USER_A } from '../../helpers/storageFixtures.js';

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
	await cleanup?.();
	cleanup = undefined;
});

describe('a ledger describes one storage', () => {
	it("refuses a second storage root pointed at another root's ledger, and that ledger is left untouched", async () => {
		const temp = await makeTempDir();
		cleanup = temp.cleanup;
		const rootA = join(temp.dir, 'a');
		const rootB = join(temp.dir, 'b');
		const a = await StorageManager.open({ storageRoot: rootA, cleanupIntervalMinutes: 0 });
		const saved = await a.saveImage({ data: pngBytes(), userId: USER_A });
		expect(saved.ok).toBe(true);
		await a.close();

		const shared = `sqlite://${join(rootA, 'quota.sqlite')}`;
		const refused = StorageManager.open({ storageRoot: rootB, ledgerUri: shared, cleanupIntervalMinutes: 0 });
		await expect(refused).rejects.toBeInstanceOf(StorageConfigError);
		await expect(refused).rejects.toThrowError(/belongs to another storage .* give this one its own \(QUOTA_LEDGER_URI \/ ledgerUri\)/);

		const again = await StorageManager.open({ storageRoot: rootA, cleanupIntervalMinutes: 0 });
		const listed = await again.getUserImages(USER_A);
		expect(listed.ok && listed.images.map((image) => image.id)).toEqual([saved.ok && saved.image.id]);
		await again.close();

		// The command-line tool says the same as a configuration error, exit code 2.
		const run = await runInProcess(['report', '--json'], cliEnv(rootB, { QUOTA_LEDGER_URI: shared }));
		expect(run.code).toBe(2);
		expect(jsonOf(run)).toMatchObject({ ok: false, reason: 'CONFIG', message: expect.stringContaining('belongs to another storage') });
	});
});

describe('an in-memory ledger', () => {
	it.each(['sqlite://:memory:', 'sqlite://file::memory:?cache=shared', 'sqlite://file:ledger?mode=memory'])(
		'%s is refused',
		async (uri) => {
			expect(() => resolveStorageOptions({ ledgerUri: uri })).toThrowError(
				/ledgerUri: expected a file: an in-memory ledger forgets every limit/
			);
			const temp = await makeTempDir();
			cleanup = temp.cleanup;
			let problems: readonly string[] = [];
			try {
				loadConfig({ STORAGE_ROOT: temp.dir, QUOTA_LEDGER_URI: uri });
			} catch (error) {
				if (error instanceof ConfigError) problems = error.problems;
			}
			expect(problems).toEqual([expect.stringMatching(/^- QUOTA_LEDGER_URI: expected a file: an in-memory ledger/)]);
		}
	);
});

describe('the bot on a ledger of another storage', () => {
	it('stops before logging in, with the message and exit code 2', { timeout: 60_000 }, async () => {
		const temp = await makeTempDir();
		cleanup = temp.cleanup;
		const rootA = join(temp.dir, 'a');
		await (await StorageManager.open({ storageRoot: rootA, cleanupIntervalMinutes: 0 })).close();
		const tsx = fileURLToPath(new URL('../../../node_modules/.bin/tsx', import.meta.url));
		const entry = fileURLToPath(new URL('../../../src/index.ts', import.meta.url));
		const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
			const child = spawn(tsx, [entry], {
				cwd: temp.dir,
				env: {
					PATH: process.env.PATH,
					HOME: temp.dir,
					DISCORD_TOKEN: 'MTIzNDU2Nzg5MDEyMzQ1Njc4.GabcDE.not-a-real-token-at-all-0123',
					STORAGE_ROOT: join(temp.dir, 'b'),
					QUOTA_LEDGER_URI: `sqlite://${join(rootA, 'quota.sqlite')}`,
					IMAGE_PROVIDER: 'preview'
				}
			});
			let stdout = '';
			child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
			child.on('close', (exitCode) => resolve({ code: exitCode, stdout }));
		});
		expect(code).toBe(2);
		expect(stdout).toContain('The storage cannot start: The quota ledger');
	});
});
