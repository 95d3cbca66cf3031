import { afterEach, expect, it } from 'vitest';
import { defaultGuildSettings, USER_A, USER_B } from '../helpers/storageFixtures.js';
import { GUILD, OTHER_GUILD, describeEachLedger, type ControlsFixture } from './ledgers.js';
import { usePreviewJobs } from './paidJobs.js';

const CHANNEL = '444444444444444444';
const OTHER_CHANNEL = '555555555555555555';
const ROLE = '666666666666666666';
const TIER_ROLE = '777777777777777777';

let fixture: ControlsFixture | undefined;
afterEach(async () => {
	await fixture?.close();
	fixture = undefined;
});

const preview = usePreviewJobs();
const previewJobs = (fixtureNow: ControlsFixture) => preview.jobs(() => fixtureNow.manager);

describeEachLedger("a server's settings", (backend) => {
	it('the daily limit in force is the lowest of the default, the tier or override, and the server: a server cannot raise it', async () => {
		fixture = await backend.open({
			maxUserDailyGens: 5,
			roleTiers: [{ name: 'Supporter', roleId: TIER_ROLE, dailyGens: 20, storageMb: 100 }]
		});
		const storage = fixture.manager;
		const daily = async (userId: string, guildId: string | null, roleIds: string[] = []) => {
			const status = await storage.getQuotaStatus(userId, { guildId, roleIds });
			return { limit: status.daily.limit, from: status.limits.dailyFrom ?? status.limits.source };
		};
		await storage.controls.changeSettings(GUILD, { memberDailyGens: 3 });
		await storage.controls.changeSettings(OTHER_GUILD, { memberDailyGens: 50 });
		expect(await daily(USER_A, GUILD)).toEqual({ limit: 3, from: 'server' });
		expect(await daily(USER_A, OTHER_GUILD)).toEqual({ limit: 5, from: 'default' });
		expect(await daily(USER_A, null)).toEqual({ limit: 5, from: 'default' });
		expect(await daily(USER_A, OTHER_GUILD, [TIER_ROLE])).toEqual({ limit: 20, from: 'tier' });
		await storage.controls.changeSettings(OTHER_GUILD, { memberDailyGens: 10 });
		expect(await daily(USER_A, OTHER_GUILD, [TIER_ROLE])).toEqual({ limit: 10, from: 'server' });
		await storage.setUserLimits(USER_B, { dailyGens: 2 });
		expect(await daily(USER_B, OTHER_GUILD)).toEqual({ limit: 2, from: 'override' });

		// The job is held to it: 3 in the server, then DAILY_LIMIT there; elsewhere the user's own 5 remain.
		const jobs = previewJobs(fixture);
		const run = (guildId: string) =>
			jobs.run({ kind: 'text-to-image', userId: USER_A, guildId, request: { prompt: 'x', width: 64, height: 64 } });
		for (let index = 0; index < 3; index++) expect((await run(GUILD)).ok).toBe(true);
		expect(await run(GUILD)).toMatchObject({ reason: 'DAILY_LIMIT', message: expect.stringContaining('(3/3)') });
		expect((await run(OTHER_GUILD)).ok).toBe(true);
	});

	it('the gates: generation off, other channels, roles the member lacks (NOT_HERE), after a block and before the blocklist', async () => {
		fixture = await backend.open({ promptBlocklist: ['dragon'] });
		const controls = fixture.manager.controls;
		const screen = (more: { channelId?: string; roleIds?: string[]; prompt?: string; userId?: string } = {}) =>
			controls.screen({ userId: more.userId ?? USER_A, guildId: GUILD, prompt: more.prompt ?? 'a lighthouse', ...more });
		expect(await screen()).toBeNull();

		await controls.changeSettings(GUILD, { channelIds: [CHANNEL] });
		expect(await screen({ channelId: OTHER_CHANNEL })).toMatchObject({
			reason: 'NOT_HERE',
			message: `Image generation works in <#${CHANNEL}> in this server: use that channel.`
		});
		expect(await screen({ channelId: CHANNEL })).toBeNull();
		// The command-line tool asks from no channel: the channel gate does not apply to it.
		expect(await screen()).toBeNull();

		await controls.changeSettings(GUILD, { roleIds: [ROLE] });
		expect(await screen({ channelId: CHANNEL })).toMatchObject({ reason: 'NOT_HERE', message: expect.stringContaining(`<@&${ROLE}>`) });
		expect(await screen({ channelId: CHANNEL, roleIds: [ROLE] })).toBeNull();
		expect(await screen({ channelId: CHANNEL, roleIds: [ROLE], prompt: 'a dragon' })).toMatchObject({ reason: 'PROMPT_BLOCKED' });

		await controls.changeSettings(GUILD, { enabled: false });
		expect(await screen({ channelId: CHANNEL, roleIds: [ROLE], prompt: 'a dragon' })).toMatchObject({
			reason: 'NOT_HERE',
			message: 'Image generation is turned off in this server by its admins.'
		});
		await controls.block(USER_A, { guildId: GUILD });
		expect(await screen({ channelId: CHANNEL })).toMatchObject({ reason: 'USER_BLOCKED' });
		// Another server is not concerned.
		expect(await controls.screen({ userId: USER_B, guildId: OTHER_GUILD, channelId: OTHER_CHANNEL, prompt: 'x' })).toBeNull();

		expect(await controls.changeSettings(GUILD, { enabled: true, channelIds: null, roleIds: null })).toMatchObject({
			ok: true,
			settings: defaultGuildSettings(GUILD)
		});
	});

	it("a server's daily total holds for all its members together, exactly, under 20 simultaneous requests; other servers are not concerned", async () => {
		fixture = await backend.open({ maxUserDailyGens: 100 });
		await fixture.manager.controls.changeSettings(GUILD, { guildDailyGens: 5 });
		const jobs = previewJobs(fixture);
		const members = Array.from({ length: 20 }, (_, index) => `8${String(index).padStart(17, '0')}`);
		const ask = (userId: string, guildId: string) =>
			jobs.run({ kind: 'text-to-image', userId, guildId, request: { prompt: 'x', width: 64, height: 64 } });
		const results = await Promise.all(members.map((userId) => ask(userId, GUILD)));
		expect(results.filter((result) => result.ok)).toHaveLength(5);
		const refused = results.filter((result) => !result.ok);
		expect(refused).toHaveLength(15);
		expect(refused[0]).toMatchObject({
			reason: 'DAILY_LIMIT',
			message: expect.stringMatching(/^This server's daily generation total is reached \(5\/5, all members together\)\. Resets in /)
		});
		expect((await ask(USER_A, OTHER_GUILD)).ok).toBe(true);
		expect((await ask(USER_A, GUILD)).ok).toBe(false);
	});

	it('two admins changing two settings at the same moment, from two processes: both land', async () => {
		fixture = await backend.open();
		const other = await fixture.reopen();
		for (let round = 0; round < 10; round++) {
			const guildId = `1${String(round).padStart(17, '0')}`;
			await Promise.all([
				fixture.manager.controls.changeSettings(guildId, { enabled: false }),
				other.controls.changeSettings(guildId, { memberDailyGens: round })
			]);
			const third = await fixture.reopen();
			expect(await third.controls.settingsOf(guildId)).toMatchObject({ enabled: false, memberDailyGens: round });
			await third.close();
		}
	});

	it('admins of one server adding 12 channels and removing one at the same moment, from two processes: every edit lands', async () => {
		fixture = await backend.open();
		const other = await fixture.reopen();
		const channels = Array.from({ length: 12 }, (_, index) => `3${String(index).padStart(17, '0')}`);
		expect(await fixture.manager.controls.changeGate(GUILD, 'channelIds', { add: channels[0] })).toMatchObject({ ok: true });
		const results = await Promise.all([
			...channels
				.slice(1)
				.map((channel, index) => (index % 2 === 0 ? fixture!.manager : other).controls.changeGate(GUILD, 'channelIds', { add: channel })),
			other.controls.changeGate(GUILD, 'channelIds', { remove: channels[0] })
		]);
		expect(results.filter((result) => !result.ok)).toEqual([]);
		const third = await fixture.reopen();
		expect((await third.controls.settingsOf(GUILD)).channelIds?.slice().sort()).toEqual(channels.slice(1));
		await third.close();
	});

	it('bad settings change nothing and say why', async () => {
		fixture = await backend.open();
		const controls = fixture.manager.controls;
		expect(await controls.changeSettings(GUILD, { channelIds: [] })).toMatchObject({ ok: false, reason: 'INVALID_INPUT' });
		expect(await controls.changeSettings(GUILD, { roleIds: ['12'] })).toMatchObject({ ok: false, reason: 'INVALID_INPUT' });
		expect(await controls.changeSettings(GUILD, { memberDailyGens: -1 })).toMatchObject({ ok: false, reason: 'INVALID_INPUT' });
		expect(await controls.changeSettings(GUILD, { memberDailyGens: 1.5 })).toMatchObject({ ok: false, reason: 'INVALID_INPUT' });
		expect(await controls.changeSettings('x', { enabled: false })).toMatchObject({ ok: false, reason: 'INVALID_NAME' });
		expect(await controls.changeSettings(GUILD, { guildDailyGens: -2 })).toMatchObject({ ok: false, reason: 'INVALID_INPUT' });
		expect(await controls.settingsOf(GUILD)).toEqual(defaultGuildSettings(GUILD));
	});
});
