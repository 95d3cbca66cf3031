import { afterEach, expect, it } from 'vitest';
import { ManualClock, USER_A, USER_B } from '../helpers/storageFixtures.js';
import { GUILD, OTHER_GUILD, describeEachLedger, type ControlsFixture } from './ledgers.js';
import { usePaidJobs } from './paidJobs.js';

const HOUR = 3_600_000;

let fixture: ControlsFixture | undefined;
afterEach(async () => {
	await fixture?.close();
	fixture = undefined;
});

const paid = usePaidJobs();

describeEachLedger('blocked users', (backend) => {
	it('a blocked user is refused before anything else (a blocked prompt, a used-up day), with the reason and the end; it ends on time', async () => {
		const clock = new ManualClock();
		fixture = await backend.open({ maxUserDailyGens: 1, promptBlocklist: ['dragon'] }, { clock: clock.read });
		const manager = fixture.manager;
		const jobs = await paid.jobs(() => manager);
		const run = (prompt: string, guildId?: string) => jobs.run({ kind: 'text-to-image', userId: USER_A, guildId, request: { prompt } });
		expect((await run('a lighthouse')).ok).toBe(true);

		const until = new Date(clock.now + HOUR);
		expect(await manager.controls.block(USER_A, { reason: 'spam in #general', until })).toMatchObject({
			ok: true,
			block: { userId: USER_A, guildId: null, reason: 'spam in #general', until }
		});
		for (const prompt of ['a dragon', 'a lighthouse']) {
			expect(await run(prompt, GUILD)).toMatchObject({
				ok: false,
				reason: 'USER_BLOCKED',
				message: 'You are blocked from generating images with this bot until 2026-11-21 13:00 UTC. Reason: spam in #general'
			});
		}
		expect(paid.fake?.requests).toHaveLength(1);
		// Another user is not concerned.
		expect(await manager.controls.screen({ userId: USER_B, prompt: 'a lighthouse' })).toBeNull();

		clock.advance(HOUR);
		expect(await run('a dragon')).toMatchObject({ reason: 'PROMPT_BLOCKED' });
		expect(await run('a lighthouse')).toMatchObject({ reason: 'DAILY_LIMIT' });
	});

	it("a server's block holds in that server only; unblock lifts it; blocking again replaces reason and end", async () => {
		fixture = await backend.open();
		const controls = fixture.manager.controls;
		await controls.block(USER_A, { guildId: GUILD, reason: 'first' });
		expect(await controls.screen({ userId: USER_A, guildId: GUILD })).toMatchObject({
			reason: 'USER_BLOCKED',
			message: 'You are blocked from generating images in this server. Reason: first'
		});
		expect(await controls.screen({ userId: USER_A, guildId: OTHER_GUILD })).toBeNull();
		expect(await controls.screen({ userId: USER_A })).toBeNull();

		await controls.block(USER_A, { guildId: GUILD });
		expect(await controls.blockOf(USER_A, GUILD)).toMatchObject({ guildId: GUILD, reason: null, until: null });
		// Another process sees it at once: a block is read from the ledger on every request.
		const other = await fixture.reopen();
		expect(await other.controls.screen({ userId: USER_A, guildId: GUILD })).toMatchObject({ reason: 'USER_BLOCKED' });

		expect(await controls.unblock(USER_A)).toEqual({ ok: true, lifted: null });
		expect(await other.controls.unblock(USER_A, GUILD)).toMatchObject({ ok: true, lifted: { userId: USER_A, guildId: GUILD } });
		expect(await controls.screen({ userId: USER_A, guildId: GUILD })).toBeNull();
	});

	it('bad input changes nothing: an end in the past, a long or multi-line reason, ids of the wrong shape', async () => {
		const clock = new ManualClock();
		fixture = await backend.open({}, { clock: clock.read });
		const controls = fixture.manager.controls;
		expect(await controls.block(USER_A, { until: new Date(clock.now) })).toMatchObject({
			ok: false,
			reason: 'INVALID_INPUT',
			message: expect.stringContaining('must be in the future')
		});
		expect(await controls.block(USER_A, { reason: 'x'.repeat(201) })).toMatchObject({ ok: false, reason: 'INVALID_INPUT' });
		expect(await controls.block(USER_A, { reason: 'one\ntwo' })).toMatchObject({ ok: false, reason: 'INVALID_INPUT' });
		expect(await controls.block('12', {})).toMatchObject({ ok: false, reason: 'INVALID_NAME' });
		expect(await controls.block(USER_A, { guildId: 'x' })).toMatchObject({ ok: false, reason: 'INVALID_NAME' });
		expect(await controls.blockOf(USER_A)).toBeNull();
	});
});
