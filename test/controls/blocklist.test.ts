import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { USER_A } from '../helpers/storageFixtures.js';
import { GUILD, OTHER_GUILD, describeEachLedger, type ControlsFixture } from './ledgers.js';
import { usePaidJobs } from './paidJobs.js';

let fixture: ControlsFixture | undefined;
afterEach(async () => {
	await fixture?.close();
	fixture = undefined;
});

const paid = usePaidJobs();

async function events(root: string): Promise<Record<string, unknown>[]> {
	const text = await readFile(join(root, 'logs', 'events.jsonl'), 'utf8').catch(() => '');
	return text
		.split('\n')
		.filter(Boolean)
		.map((line) => JSON.parse(line) as Record<string, unknown>);
}

describeEachLedger('the prompt blocklist', (backend) => {
	it('refuses a blocked prompt privately, before any paid call: not charged, the word not echoed, logged as an event', async () => {
		fixture = await backend.open({ promptBlocklist: ['nude'] });
		const manager = fixture.manager;
		const jobs = await paid.jobs(() => manager);
		const refused = await jobs.run({ kind: 'text-to-image', userId: USER_A, request: { prompt: 'a N U D E statue, marble' } });
		expect(refused).toMatchObject({ ok: false, reason: 'PROMPT_BLOCKED' });
		expect(JSON.stringify(refused).toLowerCase()).not.toContain('nude');
		expect(paid.fake?.requests).toHaveLength(0);
		expect((await manager.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 0, pending: 0 });

		// "classic" holds "ass": not blocked by it.
		await manager.controls.addToBlocklist(['ass']);
		const allowed = await jobs.run({ kind: 'text-to-image', userId: USER_A, request: { prompt: 'a classic class portrait' } });
		expect(allowed.ok).toBe(true);
		expect(paid.fake?.requests).toHaveLength(1);

		await manager.close();
		fixture.manager = await fixture.reopen();
		const denials = (await events(fixture.root)).filter((event) => event.reason === 'PROMPT_BLOCKED');
		expect(denials).toEqual([expect.objectContaining({ type: 'denial', userId: USER_A, list: 'owner', entry: 'nude' })]);
	});

	it("a server's list applies in that server only; the owner's applies everywhere", async () => {
		fixture = await backend.open();
		const manager = fixture.manager;
		const jobs = await paid.jobs(() => manager);
		expect(await manager.controls.addToBlocklist(['Blood Bath'], GUILD)).toMatchObject({
			ok: true,
			guildId: GUILD,
			added: ['blood bath'],
			entries: [{ entry: 'blood bath', source: 'server' }]
		});
		await manager.controls.addToBlocklist(['/gor[ey]/']);
		const run = (prompt: string, guildId?: string) => jobs.run({ kind: 'text-to-image', userId: USER_A, guildId, request: { prompt } });
		expect(await run('a blood-bath at dawn', GUILD)).toMatchObject({ reason: 'PROMPT_BLOCKED' });
		expect((await run('a blood-bath at dawn', OTHER_GUILD)).ok).toBe(true);
		expect((await run('a blood-bath at dawn')).ok).toBe(true);
		expect(await run('a GORY scene', OTHER_GUILD)).toMatchObject({ reason: 'PROMPT_BLOCKED' });
		expect(paid.fake?.requests).toHaveLength(2);
	});

	it('a change made by another process applies at once to a process that opens the ledger, and within 2 s to one running', async () => {
		fixture = await backend.open();
		const other = await fixture.reopen();
		expect(await fixture.manager.controls.screen({ userId: USER_A, prompt: 'a dragon' })).toBeNull();
		await other.controls.addToBlocklist(['dragon']);
		const third = await fixture.reopen();
		expect(await third.controls.screen({ userId: USER_A, prompt: 'a dragon' })).toMatchObject({ reason: 'PROMPT_BLOCKED' });
		await expect
			.poll(() => fixture?.manager.controls.screen({ userId: USER_A, prompt: 'a dragon' }), { timeout: 4000 })
			.toMatchObject({
				reason: 'PROMPT_BLOCKED'
			});
		expect(await other.controls.removeFromBlocklist(['DRAGON', 'unicorn'])).toMatchObject({ removed: ['dragon'], notFound: ['unicorn'] });
		expect(await other.controls.screen({ userId: USER_A, prompt: 'a dragon' })).toBeNull();
	});

	it('bad entries change nothing and say why: a pattern on a server list, an invalid pattern, an empty word, a bad server id', async () => {
		fixture = await backend.open();
		const controls = fixture.manager.controls;
		expect(await controls.addToBlocklist(['ok', '/x+/'], GUILD)).toMatchObject({
			ok: false,
			reason: 'INVALID_INPUT',
			message: expect.stringContaining("bot owner's list only")
		});
		expect(await controls.addToBlocklist(['/(/'])).toMatchObject({
			ok: false,
			message: expect.stringContaining('not a valid regular expression')
		});
		expect(await controls.addToBlocklist(['fine', '  '])).toMatchObject({ ok: false, message: expect.stringContaining('empty') });
		expect(await controls.addToBlocklist(['fine'], '12')).toMatchObject({ ok: false, reason: 'INVALID_NAME' });
		expect(await controls.blocklist(GUILD)).toMatchObject({ ok: true, entries: [] });
		expect(await controls.blocklist()).toMatchObject({ ok: true, entries: [] });
	});
});
