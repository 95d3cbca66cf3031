import '../../src/plugins/storage/register.js';
import { existsSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { container, Logger, LogLevel, SapphireClient, type Precondition } from '@sapphire/framework';
import type { ChatInputCommandInteraction } from 'discord.js';
import { afterEach, describe, expect, it } from 'vitest';
import { StorageManager } from '../../src/plugins/storage/StorageManager.js';
import { loginWithoutGateway, startWithoutGateway } from '../helpers/sapphireHarness.js';
import { makeTempDir, pngBytes, USER_A } from '../helpers/storageFixtures.js';

let client: SapphireClient | undefined;
let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
	await container.storage?.close();
	await client?.destroy();
	await cleanup?.();
	client = undefined;
});

async function startBot(storage: Record<string, unknown>) {
	const temp = await makeTempDir();
	cleanup = temp.cleanup;
	client = await startWithoutGateway({ storage: { storageRoot: `${temp.dir}/root`, cleanupIntervalMinutes: 0, ...storage } });
	return client;
}

/** What Discord would hand a precondition for a slash command: the caller and, in a guild, their roles. */
function interactionFrom(userId: string, roles: string[] = []) {
	return { user: { id: userId }, member: { roles } } as unknown as ChatInputCommandInteraction;
}

async function runPrecondition(name: 'DailyLimit' | 'UserStorage' | 'GlobalStorage', interaction: ChatInputCommandInteraction) {
	const piece = container.stores.get('preconditions').get(name) as Precondition | undefined;
	if (!piece?.chatInputRun) throw new Error(`${name} is not loaded`);
	return piece.chatInputRun(interaction, undefined as never, {} as never);
}

describe('the storage plugin, registered with one import', () => {
	it('puts a StorageManager on container.storage, configured from ClientOptions.storage', async () => {
		await startBot({ maxUserDailyGens: 3 });
		expect(container.storage).toBeInstanceOf(StorageManager);
		expect((await container.storage.getQuotaStatus(USER_A)).daily.limit).toBe(3);
	});

	it('refuses a wrong option when the client is built, naming the field', async () => {
		const temp = await makeTempDir();
		cleanup = temp.cleanup;
		await expect(startWithoutGateway({ storage: { storageRoot: temp.dir, maxUserDailyGens: -1 } })).rejects.toThrow(
			/maxUserDailyGens: expected 0 or more \(got -1\)/
		);
	});

	it('ships DailyLimit, UserStorage and GlobalStorage as preconditions', async () => {
		await startBot({});
		const names = [...container.stores.get('preconditions').keys()];
		expect(names).toEqual(expect.arrayContaining(['DailyLimit', 'UserStorage', 'GlobalStorage']));
	});
});

/** Sapphire's logger, keeping the lines instead of printing them. */
class CollectingLogger extends Logger {
	public readonly lines: string[] = [];
	public constructor() {
		super(LogLevel.Debug);
	}
	public override write(_level: LogLevel, ...values: readonly unknown[]): void {
		this.lines.push(values.map(String).join(' '));
	}
}

describe('the storage plugin over the life of a client', () => {
	it('closes the ledger with client.destroy(): nothing is left open and the WAL files are gone', async () => {
		const bot = await startBot({});
		const root = container.storage.options.storageRoot;
		const saved = await container.storage.saveImage({ data: pngBytes(1024), userId: USER_A });
		expect(saved.ok).toBe(true);
		expect(existsSync(join(root, 'quota.sqlite-wal'))).toBe(true);

		await bot.destroy();

		expect(existsSync(join(root, 'quota.sqlite-wal'))).toBe(false);
		expect(existsSync(join(root, 'quota.sqlite-shm'))).toBe(false);
		await expect(container.storage.getQuotaStatus(USER_A)).rejects.toThrow();
		// The image it saved is still there for the next start.
		const reopened = await StorageManager.open({ storageRoot: root, cleanupIntervalMinutes: 0 });
		expect((await reopened.getQuotaStatus(USER_A)).user.files).toBe(1);
		await reopened.close();
	});

	it('resolves a relative storageRoot once, against the working directory the client was built in, and says where', async () => {
		const built = await makeTempDir();
		const later = await makeTempDir();
		const previous = process.cwd();
		const logger = new CollectingLogger();
		try {
			process.chdir(built.dir);
			client = new SapphireClient({ intents: [], baseUserDirectory: null, logger: { instance: logger }, storage: { storageRoot: 'data' } });
			// A bot that changes directory before login (a process manager, a library) keeps its data where it was.
			process.chdir(later.dir);
			await loginWithoutGateway(client);
		} finally {
			process.chdir(previous);
		}
		const expected = join(await realpath(built.dir), 'data');
		expect(await realpath(container.storage.options.storageRoot)).toBe(expected);
		expect(existsSync(join(later.dir, 'data'))).toBe(false);
		const told = logger.lines.filter((line) => line.includes('Images and the quota ledger are stored in'));
		expect(told).toHaveLength(1);
		expect(told[0]).toContain(join(built.dir, 'data'));
		expect(told[0]).toContain('storageRoot "data", relative to the working directory');
		await client.destroy();
		await Promise.all([built.cleanup(), later.cleanup()]);
	});
});

describe('the quota preconditions', () => {
	it('DailyLimit allows until the allowance is used, then denies with the reason, when it resets, and the status', async () => {
		await startBot({ maxUserDailyGens: 1 });
		expect((await runPrecondition('DailyLimit', interactionFrom(USER_A))).isOk()).toBe(true);
		const reserved = await container.storage.reserve(USER_A);
		expect(reserved.ok).toBe(true);
		const denied = await runPrecondition('DailyLimit', interactionFrom(USER_A));
		expect(denied.isErr()).toBe(true);
		const error = denied.unwrapErr();
		expect(error.identifier).toBe('DAILY_LIMIT');
		expect(error.message).toMatch(/^Daily generation limit reached \(1\/1, 1 still running\)\. Resets in \d+ (h|min|s)/);
		expect(error.context).toMatchObject({ reason: 'DAILY_LIMIT', status: { daily: { limit: 1, remaining: 0 } } });
	});

	it("DailyLimit honours the caller's role tier", async () => {
		await startBot({ maxUserDailyGens: 0, roleTiers: [{ name: 'Supporter', roleId: '900000000000000001', dailyGens: 2, storageMb: 10 }] });
		expect((await runPrecondition('DailyLimit', interactionFrom(USER_A))).isErr()).toBe(true);
		expect((await runPrecondition('DailyLimit', interactionFrom(USER_A, ['900000000000000001']))).isOk()).toBe(true);
	});

	it('UserStorage denies when one more image would not fit the user quota', async () => {
		await startBot({ maxUserStorageMb: 2, estimatedImageMb: 1 });
		expect((await runPrecondition('UserStorage', interactionFrom(USER_A))).isOk()).toBe(true);
		await container.storage.saveImage({ data: pngBytes(1.5 * 1024 * 1024), userId: USER_A });
		const denied = await runPrecondition('UserStorage', interactionFrom(USER_A));
		expect(denied.unwrapErr().identifier).toBe('USER_QUOTA');
		expect(denied.unwrapErr().message).toContain('Your storage quota is full');
	});

	it('GlobalStorage denies when the bot is out of space', async () => {
		await startBot({ maxGlobalStorageMb: 2, estimatedImageMb: 1 });
		await container.storage.saveImage({ data: pngBytes(1.5 * 1024 * 1024), userId: USER_A, temp: true });
		const denied = await runPrecondition('GlobalStorage', interactionFrom('223456789012345678'));
		expect(denied.unwrapErr().identifier).toBe('GLOBAL_QUOTA');
	});

	it('never throws: a ledger that cannot be read becomes a denial that says nothing was started', async () => {
		await startBot({});
		await container.storage.close();
		const denied = await runPrecondition('DailyLimit', interactionFrom(USER_A));
		expect(denied.unwrapErr().identifier).toBe('QUOTA_UNAVAILABLE');
		expect(denied.unwrapErr().message).toContain('nothing was started');
		// Reopen so afterEach can close it again.
		container.storage = await StorageManager.open(container.storage.options);
	});
});
