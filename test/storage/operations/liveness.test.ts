import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteConnection } from '../../../src/plugins/storage/ledger/sqlite/SqliteConnection.js';
import { ManualClock, openTestStorage, pngBytes, USER_A, USER_B } from '../../helpers/storageFixtures.js';

let storage: Awaited<ReturnType<typeof openTestStorage>> | undefined;
afterEach(async () => {
	await storage?.close();
	storage = undefined;
});

/** Writes straight into the ledger what another (or an earlier) process left there. */
async function withLedger<T>(root: string, work: (connection: SqliteConnection) => Promise<T>): Promise<T> {
	const connection = await SqliteConnection.open(join(root, 'quota.sqlite'), 5000);
	try {
		return await work(connection);
	} finally {
		await connection.close();
	}
}

async function leaveReservation(
	root: string,
	owner: { id: string; host: string; pid: number; startedAt: number; heartbeatAt: number },
	userId: string
) {
	await withLedger(root, async (connection) => {
		await connection.all('INSERT INTO imagine_instances VALUES ($id, $host, $pid, $startedAt, $heartbeatAt)', owner);
		await connection.all(
			`INSERT INTO imagine_reservations (id, user_id, day, bytes, cost, temp, created_at, expires_at, owner)
			VALUES ($id, $user, strftime('%Y-%m-%d', 'now'), 4096, 1, 0, $now, $expires, $owner)`,
			{ id: `r-${owner.id}`, user: userId, now: Date.now(), expires: Date.now() + 3_600_000, owner: owner.id }
		);
	});
}

describe('the processes holding reservations', () => {
	it('a crashed predecessor whose pid this process now has (pid 1 in a restarted container): its reservation is released at once, not after 30 minutes', async () => {
		storage = await openTestStorage({ maxUserDailyGens: 1 });
		await leaveReservation(
			storage.root,
			{ id: 'deadbeef', host: hostname(), pid: process.pid, startedAt: Date.now() - 86_400_000, heartbeatAt: Date.now() },
			USER_A
		);
		expect(await storage.manager.reserve(USER_A)).toMatchObject({ ok: false, reason: 'DAILY_LIMIT' });
		const report = await storage.manager.reconcile();
		expect(report.reservationsReleased).toBe(1);
		expect((await storage.manager.reserve(USER_A)).ok).toBe(true);
	});

	it('a process on another host: kept while its heartbeat is fresh, released once its lease has run out', async () => {
		storage = await openTestStorage({ maxUserDailyGens: 1 });
		await leaveReservation(
			storage.root,
			{ id: 'cafe0001', host: 'shard-host-2', pid: 4242, startedAt: Date.now(), heartbeatAt: Date.now() },
			USER_A
		);
		await leaveReservation(
			storage.root,
			{ id: 'cafe0002', host: 'shard-host-3', pid: 4242, startedAt: Date.now(), heartbeatAt: Date.now() - 5 * 60_000 },
			USER_B
		);
		const report = await storage.manager.reconcile();
		expect(report.reservationsReleased).toBe(1);
		expect(await storage.manager.reserve(USER_A)).toMatchObject({ ok: false, reason: 'DAILY_LIMIT' });
		expect((await storage.manager.reserve(USER_B)).ok).toBe(true);
	});
});

describe('a commit', () => {
	it('always charges, even when the clock jumped past its reservation and a reconcile purged it', async () => {
		const clock = new ManualClock();
		storage = await openTestStorage({ maxUserDailyGens: 5, reservationTtlMinutes: 10 }, { clock: clock.read });
		const held = await storage.manager.reserve(USER_A);
		if (!held.ok) throw new Error(held.message);
		clock.advance(11 * 60_000);
		expect((await storage.manager.reconcile()).reservationsReleased).toBe(1);
		const saved = await storage.manager.saveImage({ data: pngBytes(), userId: USER_A, reservation: held.reservation });
		expect(saved.ok).toBe(true);
		expect((await storage.manager.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 1, pending: 0 });
	});
});
