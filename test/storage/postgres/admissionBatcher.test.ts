import { describe, expect, it } from 'vitest';
import { AdmissionBatcher } from '../../../src/plugins/storage/ledger/postgres/AdmissionBatcher.js';

/**
 * How the PostgreSQL ledger groups admissions into calls. The database side of a batch is tested on a real server
 * (batches.test.ts); here the calls are recorded by a stand-in for the database that answers when told to.
 */

class RefusedError extends Error {
	public readonly code = 'IMQ01';
}

/** A stand-in database: records each call's items, answers each call when the test releases it. */
function recorder(answer: (items: readonly string[]) => Error | null = () => null) {
	const calls: { kind: string; items: readonly string[]; release: () => void }[] = [];
	let open = 0;
	let mostOpen = 0;
	const send = (kind: string, items: readonly string[]) =>
		new Promise<void>((resolve, reject) => {
			open++;
			mostOpen = Math.max(mostOpen, open);
			calls.push({
				kind,
				items,
				release: () => {
					open--;
					const error = answer(items);
					if (error) reject(error);
					else resolve();
				}
			});
		});
	return {
		calls,
		send,
		mostOpen: () => mostOpen,
		/** Lets the batcher's scheduled dispatch run, then answers every call still open. */
		async releaseAll() {
			await new Promise((resolve) => setImmediate(resolve));
			for (const call of calls.splice(0)) call.release();
			// The answers settle, then the dispatch they schedule runs.
			await new Promise((resolve) => setImmediate(resolve));
			await new Promise((resolve) => setImmediate(resolve));
		}
	};
}

const isItemFailure = (error: unknown) => error instanceof RefusedError;

describe('AdmissionBatcher', () => {
	it('sends an admission alone at once, and those arriving while the connections are busy together, shared among them', async () => {
		const database = recorder();
		const batcher = new AdmissionBatcher<string, string>({ send: database.send, isItemFailure, maxInFlight: 2, maxItems: 64 });
		const first = batcher.run('reserve', 'a');
		await new Promise((resolve) => setImmediate(resolve));
		expect(database.calls.map((call) => call.items)).toEqual([['a']]);

		// One connection is busy: the next leaves on the other; six more wait for a free one.
		const rest = ['b', 'c', 'd', 'e', 'f', 'g', 'h'].map((item) => batcher.run('reserve', item));
		await new Promise((resolve) => setImmediate(resolve));
		expect(database.calls.map((call) => call.items)).toEqual([['a'], ['b', 'c', 'd', 'e', 'f', 'g', 'h']]);
		await database.releaseAll();
		await Promise.all([first, ...rest]);
		expect(database.mostOpen()).toBe(2);
	});

	it('waiting admissions leave on every connection that frees, never more calls than connections at once', async () => {
		const database = recorder();
		const batcher = new AdmissionBatcher<string, string>({ send: database.send, isItemFailure, maxInFlight: 2, maxItems: 64 });
		const held = [batcher.run('reserve', 'a'), batcher.run('reserve', 'b')];
		await new Promise((resolve) => setImmediate(resolve));
		expect(database.calls.map((call) => call.items)).toEqual([['a'], ['b']]);
		const waiting = Array.from({ length: 8 }, (_, index) => batcher.run('reserve', `w${index}`));
		await database.releaseAll();
		// Both connections freed at once: the eight waiting are shared between them.
		expect(database.calls.map((call) => call.items.length)).toEqual([4, 4]);
		await database.releaseAll();
		await Promise.all([...held, ...waiting]);
		expect(database.mostOpen()).toBe(2);
	});

	it('a batch holds one kind; the oldest waiting admission says which kind leaves next', async () => {
		const database = recorder();
		const batcher = new AdmissionBatcher<string, string>({ send: database.send, isItemFailure, maxInFlight: 1, maxItems: 64 });
		const busy = batcher.run('reserve', 'r0');
		await new Promise((resolve) => setImmediate(resolve));
		const waiting = [batcher.run('commit', 'c1'), batcher.run('reserve', 'r1'), batcher.run('commit', 'c2')];
		await database.releaseAll();
		expect(database.calls.map((call) => [call.kind, call.items])).toEqual([['commit', ['c1', 'c2']]]);
		await database.releaseAll();
		expect(database.calls.map((call) => [call.kind, call.items])).toEqual([['reserve', ['r1']]]);
		await database.releaseAll();
		await Promise.all([busy, ...waiting]);
	});

	it("an item's refusal sends each item of its batch again alone, in turn: only that one is refused", async () => {
		const database = recorder((items) => (items.includes('bad') ? new RefusedError('DAILY_LIMIT') : null));
		const batcher = new AdmissionBatcher<string, string>({ send: database.send, isItemFailure, maxInFlight: 1, maxItems: 64 });
		const busy = batcher.run('reserve', 'first');
		await new Promise((resolve) => setImmediate(resolve));
		const results = Promise.allSettled(['x', 'bad', 'y'].map((item) => batcher.run('reserve', item)));
		await database.releaseAll(); // 'first'
		expect(database.calls.map((call) => call.items)).toEqual([['x', 'bad', 'y']]);
		const alone: (readonly string[])[] = [];
		for (let turn = 0; turn < 4; turn++) {
			await database.releaseAll();
			alone.push(...database.calls.map((call) => call.items));
		}
		await busy;
		expect(alone).toEqual([['x'], ['bad'], ['y']]);
		expect((await results).map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
		expect(database.mostOpen()).toBe(1);
	});

	it('sent again alone after a refusal, the items of a batch still use no more connections than there are', async () => {
		const database = recorder((items) => (items.length > 1 ? new RefusedError('GLOBAL_QUOTA') : null));
		const batcher = new AdmissionBatcher<string, string>({ send: database.send, isItemFailure, maxInFlight: 2, maxItems: 64 });
		const all = Promise.allSettled(Array.from({ length: 20 }, (_, index) => batcher.run('reserve', `i${index}`)));
		for (let turn = 0; turn < 30; turn++) await database.releaseAll();
		expect((await all).every((result) => result.status === 'fulfilled')).toBe(true);
		expect(database.mostOpen()).toBe(2);
	});

	it("a failure that is no item's (the connection) is every item's answer, without sending them again", async () => {
		const database = recorder(() => new Error('Connection terminated unexpectedly'));
		const batcher = new AdmissionBatcher<string, string>({ send: database.send, isItemFailure, maxInFlight: 1, maxItems: 64 });
		const results = Promise.allSettled(['a', 'b', 'c'].map((item) => batcher.run('reserve', item)));
		await database.releaseAll();
		expect(database.calls).toEqual([]);
		expect((await results).map((result) => result.status)).toEqual(['rejected', 'rejected', 'rejected']);
	});

	it('a batch carries at most maxItems admissions', async () => {
		const database = recorder();
		const batcher = new AdmissionBatcher<string, string>({ send: database.send, isItemFailure, maxInFlight: 1, maxItems: 3 });
		const all = Array.from({ length: 7 }, (_, index) => batcher.run('reserve', `i${index}`));
		const sizes: number[] = [];
		while (sizes.reduce((sum, size) => sum + size, 0) < 7) {
			await new Promise((resolve) => setImmediate(resolve));
			sizes.push(...database.calls.map((call) => call.items.length));
			await database.releaseAll();
		}
		await Promise.all(all);
		expect(sizes).toEqual([3, 3, 1]);
	});
});
