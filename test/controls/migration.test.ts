import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { POSTGRES_SCHEMA_VERSION } from '../../src/plugins/storage/ledger/postgres/schema.js';
import { SqliteConnection } from '../../src/plugins/storage/ledger/sqlite/SqliteConnection.js';
import { SCHEMA_VERSION } from '../../src/plugins/storage/ledger/sqlite/schema.js';
import { createTestSchema } from '../helpers/postgres.js';
import { describeEachLedger, type ControlsFixture } from './ledgers.js';

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
});
