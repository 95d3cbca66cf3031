import { afterEach, expect, it } from 'vitest';
import type { ScreenRequest } from '../../src/plugins/storage/controls/Controls.js';
import { USER_A } from '../helpers/storageFixtures.js';
import { GUILD, OTHER_GUILD, describeEachLedger, type ControlsFixture } from './ledgers.js';
import { usePreviewJobs } from './paidJobs.js';

let fixture: ControlsFixture | undefined;
afterEach(async () => {
	await fixture?.close();
	fixture = undefined;
});

const preview = usePreviewJobs();

/**
 * The laxer setting for age-restricted (NSFW) channels: the owner allows it (ALLOW_NSFW_LAX), a server turns it on, and
 * only in a channel Discord marks age-restricted does the server's own blocklist stop applying. The owner's list, and
 * everything else, applies as usual.
 */
describeEachLedger('the laxer setting for age-restricted channels', (backend) => {
	it("skips the server's own list in its age-restricted channels only, when the owner allows it and the server turned it on", async () => {
		fixture = await backend.open({ promptBlocklist: ['dragon'], allowNsfwLax: true });
		const controls = fixture.manager.controls;
		await controls.addToBlocklist(['kraken'], GUILD);
		await controls.addToBlocklist(['kraken'], OTHER_GUILD);
		const screen = (prompt: string, more: Partial<ScreenRequest> = {}) =>
			controls.screen({ userId: USER_A, guildId: GUILD, prompt, ...more });

		// Not turned on yet: refused everywhere in the server.
		expect(await screen('a kraken', { ageRestricted: true })).toMatchObject({ reason: 'PROMPT_BLOCKED' });
		expect(await controls.nsfwLaxInForce({ guildId: GUILD, ageRestricted: true })).toBe(false);

		expect(await controls.changeSettings(GUILD, { nsfwLax: true })).toMatchObject({ ok: true, settings: { nsfwLax: true } });
		expect(await screen('a kraken', { ageRestricted: true })).toBeNull();
		expect(await controls.nsfwLaxInForce({ guildId: GUILD, ageRestricted: true })).toBe(true);
		// A channel that is not age-restricted: the server's list applies.
		expect(await screen('a kraken')).toMatchObject({ reason: 'PROMPT_BLOCKED' });
		expect(await screen('a kraken', { ageRestricted: false })).toMatchObject({ reason: 'PROMPT_BLOCKED' });
		expect(await controls.nsfwLaxInForce({ guildId: GUILD, ageRestricted: false })).toBe(false);
		// The owner's list applies in an age-restricted channel too, spelt out or not.
		expect(await screen('a d r a g o n', { ageRestricted: true })).toMatchObject({ reason: 'PROMPT_BLOCKED' });
		// Another server that did not turn it on keeps its list, age-restricted channel or not.
		expect(await screen('a kraken', { guildId: OTHER_GUILD, ageRestricted: true })).toMatchObject({ reason: 'PROMPT_BLOCKED' });
		// No server (a DM, the command-line tool): never in force.
		expect(await controls.nsfwLaxInForce({ guildId: null, ageRestricted: true })).toBe(false);

		// The gates still apply in an age-restricted channel.
		await controls.changeSettings(GUILD, { enabled: false });
		expect(await screen('a kraken', { ageRestricted: true })).toMatchObject({ reason: 'NOT_HERE' });
		await controls.changeSettings(GUILD, { enabled: true, nsfwLax: false });
		expect(await screen('a kraken', { ageRestricted: true })).toMatchObject({ reason: 'PROMPT_BLOCKED' });
	});

	it('while the owner does not allow it: turning it on is refused with a clear answer, and a setting stored before has no effect', async () => {
		fixture = await backend.open({ allowNsfwLax: true });
		await fixture.manager.controls.addToBlocklist(['kraken'], GUILD);
		await fixture.manager.controls.changeSettings(GUILD, { nsfwLax: true });
		await fixture.manager.close();

		fixture.manager = await fixture.reopen({ allowNsfwLax: false });
		const controls = fixture.manager.controls;
		expect(controls.nsfwLaxAllowed).toBe(false);
		expect(await controls.settingsOf(GUILD)).toMatchObject({ nsfwLax: true });
		expect(await controls.screen({ userId: USER_A, guildId: GUILD, prompt: 'a kraken', ageRestricted: true })).toMatchObject({
			reason: 'PROMPT_BLOCKED'
		});
		expect(await controls.nsfwLaxInForce({ guildId: GUILD, ageRestricted: true })).toBe(false);

		const refused = await controls.changeSettings(OTHER_GUILD, { nsfwLax: true, memberDailyGens: 2 });
		expect(refused).toMatchObject({
			ok: false,
			reason: 'INVALID_INPUT',
			message: expect.stringContaining("The bot's owner does not allow")
		});
		expect(await controls.settingsOf(OTHER_GUILD)).toMatchObject({ nsfwLax: false, memberDailyGens: null });
		// Turning it off is always possible.
		expect(await controls.changeSettings(GUILD, { nsfwLax: false })).toMatchObject({ ok: true, settings: { nsfwLax: false } });
	});

	it('a job from an age-restricted channel is generated past the server list, and charged as usual; elsewhere refused', async () => {
		fixture = await backend.open({ maxUserDailyGens: 1, allowNsfwLax: true });
		const storage = fixture.manager;
		await storage.controls.addToBlocklist(['kraken'], GUILD);
		await storage.controls.changeSettings(GUILD, { nsfwLax: true });
		const jobs = preview.jobs(() => storage);
		const run = (ageRestricted: boolean) =>
			jobs.run({
				kind: 'text-to-image',
				userId: USER_A,
				guildId: GUILD,
				ageRestricted,
				request: { prompt: 'a kraken', width: 64, height: 64 }
			});
		expect(await run(false)).toMatchObject({ ok: false, reason: 'PROMPT_BLOCKED' });
		expect((await run(true)).ok).toBe(true);
		// The daily limit still holds there.
		expect(await run(true)).toMatchObject({ ok: false, reason: 'DAILY_LIMIT' });
	});
});
