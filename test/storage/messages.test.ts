import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { botStorageMessages } from '../../src/lib/responses/storageMessages.js';
import { resolveStorageOptions } from '../../src/plugins/storage/options.js';
import { openTestStorage, pngBytes, USER_A } from '../helpers/storageFixtures.js';

let storage: Awaited<ReturnType<typeof openTestStorage>> | undefined;
afterEach(async () => {
	await storage?.close();
	storage = undefined;
});

const PLUGINS = fileURLToPath(new URL('../../src/plugins', import.meta.url));

function sources(dir: string): string[] {
	return readdirSync(dir).flatMap((name) => {
		const path = join(dir, name);
		return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
	});
}

describe("the plugins' words", () => {
	it("name no command of this bot: a stranger's bot has other commands", () => {
		const offending = sources(PLUGINS).flatMap((file) =>
			readFileSync(file, 'utf8')
				.split('\n')
				.filter(
					(line) =>
						// A command is written after a space or a quote (" /images delete"); URL paths are not.
						/(?:^|[\s("'`])\/(?:images|storage|quota|quota-admin|imagine|reimagine|upscale)(?![\w/-])/.test(line) &&
						!/^\s*(?:\*|\/\/|\/\*)/.test(line)
				)
				.map((line) => `${file}: ${line.trim()}`)
		);
		expect(offending).toEqual([]);
	});

	it("a bot's own wording (or a translation) replaces the defaults, with the same reason and data", async () => {
		storage = await openTestStorage({
			maxUserStorageMb: 0.001,
			messages: { userQuota: (status) => `Plus de place : ${status.user.usedBytes} octets.`, notFound: 'Image introuvable.' }
		});
		const refused = await storage.manager.saveImage({ data: pngBytes(4096), userId: USER_A });
		expect(refused).toMatchObject({
			ok: false,
			reason: 'USER_QUOTA',
			message: 'Plus de place : 0 octets.',
			status: { user: { usedBytes: 0 } }
		});
		expect(await storage.manager.getImagePath(USER_A, '0000000000000000')).toMatchObject({
			reason: 'NOT_FOUND',
			message: 'Image introuvable.'
		});
	});

	it('this bot words them with its commands', async () => {
		storage = await openTestStorage({ maxUserStorageMb: 0.001, messages: botStorageMessages });
		const refused = await storage.manager.saveImage({ data: pngBytes(4096), userId: USER_A });
		expect(refused.ok === false && refused.message).toMatch(/Delete images with \/images delete\.$/);
	});

	it('a messages option with an unknown key or the wrong kind of value is refused, naming the field', () => {
		expect(() => resolveStorageOptions({ messages: { userQuota: 'not a function' } as never })).toThrowError(
			/messages: expected an object of message strings and functions/
		);
		expect(() => resolveStorageOptions({ messages: { typo: 'x' } as never })).toThrowError(/messages:/);
	});
});
