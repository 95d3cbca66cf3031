import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { POSTGRES_SCHEMA_VERSION } from '../../src/plugins/storage/ledger/postgres/schema.js';
import { SqliteConnection } from '../../src/plugins/storage/ledger/sqlite/SqliteConnection.js';
import { SCHEMA_VERSION } from '../../src/plugins/storage/ledger/sqlite/schema.js';
import { createTestSchema } from '../helpers/postgres.js';
import { defaultGuildSettings } from '../helpers/storageFixtures.js';
import { GUILD, describeEachLedger, type ControlsFixture } from './ledgers.js';

const CHANNEL = '444444444444444444';

let fixture: ControlsFixture | undefined;
afterEach(async () => {
	await fixture?.close();
	fixture = undefined;
});

/**
 * The controls' schema version is written so that running it again changes nothing: a ledger whose version was
 * set back (a restored backup of the version row, an interrupted upgrade by hand) opens and keeps its controls.
 */
describeEachLedger("the controls' migration", (backend) => {
	it('runs again over its own tables without an error, and keeps what they hold', async () => {
		const schema = backend.name === 'postgres' ? await createTestSchema() : null;
		fixture = await backend.open(schema ? { ledgerUri: schema.uri() } : {});
		await fixture.manager.controls.addToBlocklist(['dragon']);
		await fixture.manager.close();
		if (schema) {
			await schema.query("UPDATE imagine_meta SET value = $1 WHERE key = 'schema_version'", [String(POSTGRES_SCHEMA_VERSION - 1)]);
		} else {
			const connection = await SqliteConnection.open(join(fixture.root, 'quota.sqlite'), 5000);
			await connection.exec(`PRAGMA user_version = ${SCHEMA_VERSION - 1}`);
			await connection.close();
		}
		fixture.manager = await fixture.reopen();
		expect(await fixture.manager.controls.blocklist()).toMatchObject({ ok: true, entries: [{ entry: 'dragon', source: 'owner' }] });
		await fixture.manager.close();
		fixture.manager = await fixture.reopen();
		if (schema) {
			const [row] = await schema.query<{ value: string }>("SELECT value FROM imagine_meta WHERE key = 'schema_version'");
			expect(Number(row?.value)).toBe(POSTGRES_SCHEMA_VERSION);
			await schema.drop();
		}
	});

	it("from version 5: every server's settings are kept, the laxer setting for age-restricted channels is added off, and it persists", async () => {
		const schema = backend.name === 'postgres' ? await createTestSchema() : null;
		fixture = await backend.open({ allowNsfwLax: true, ...(schema ? { ledgerUri: schema.uri() } : {}) });
		await fixture.manager.controls.changeSettings(GUILD, { memberDailyGens: 3, channelIds: [CHANNEL], enabled: false });
		await fixture.manager.close();
		// Back to version 5 as it was: the guild settings table without the column version 6 adds.
		if (schema) {
			await schema.query('ALTER TABLE imagine_guild_settings DROP COLUMN nsfw_lax');
			await schema.query("UPDATE imagine_meta SET value = '5' WHERE key = 'schema_version'");
		} else {
			const connection = await SqliteConnection.open(join(fixture.root, 'quota.sqlite'), 5000);
			await connection.exec('ALTER TABLE imagine_guild_settings DROP COLUMN nsfw_lax');
			await connection.exec('PRAGMA user_version = 5');
			await connection.close();
		}
		fixture.manager = await fixture.reopen();
		const kept = defaultGuildSettings(GUILD, { enabled: false, channelIds: [CHANNEL], memberDailyGens: 3 });
		expect(await fixture.manager.controls.settingsOf(GUILD)).toEqual(kept);
		expect(await fixture.manager.controls.changeSettings(GUILD, { nsfwLax: true })).toMatchObject({
			ok: true,
			settings: { nsfwLax: true }
		});
		// Another process reads it from the ledger, beside what was kept; turning it off again lands too.
		const other = await fixture.reopen();
		expect(await other.controls.settingsOf(GUILD)).toEqual({ ...kept, nsfwLax: true });
		await other.controls.changeSettings(GUILD, { nsfwLax: false, memberDailyGens: 4 });
		const third = await fixture.reopen();
		expect(await third.controls.settingsOf(GUILD)).toEqual({ ...kept, memberDailyGens: 4, nsfwLax: false });
		if (schema) {
			const [row] = await schema.query<{ value: string }>("SELECT value FROM imagine_meta WHERE key = 'schema_version'");
			expect(Number(row?.value)).toBe(POSTGRES_SCHEMA_VERSION);
			await schema.drop();
		} else {
			const connection = await SqliteConnection.open(join(fixture.root, 'quota.sqlite'), 5000);
			expect((await connection.all('PRAGMA user_version'))[0]?.user_version).toBe(SCHEMA_VERSION);
			await connection.close();
		}
	});
});
