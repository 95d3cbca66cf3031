import { readFileSync } from 'node:fs';
import { PermissionFlagsBits } from 'discord.js';
import { describe, expect, it } from 'vitest';
import { BOT_PERMISSIONS, botPermissions, inviteUrl } from '../../src/lib/invite.js';
import { readyReport } from '../../src/lib/readyReport.js';

const APP_ID = '123456789012345678';
const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('the invite link', () => {
	it('asks for exactly View Channel, Send Messages (and in threads), Embed Links and Attach Files', () => {
		const expected =
			PermissionFlagsBits.ViewChannel |
			PermissionFlagsBits.SendMessages |
			PermissionFlagsBits.SendMessagesInThreads |
			PermissionFlagsBits.EmbedLinks |
			PermissionFlagsBits.AttachFiles;
		expect(botPermissions()).toBe(expected);
		expect(botPermissions()).toBe(274_877_959_168n);
		expect(BOT_PERMISSIONS.map((permission) => permission.label)).toEqual([
			'View Channel',
			'Send Messages',
			'Send Messages in Threads',
			'Embed Links',
			'Attach Files'
		]);
	});

	it('is the Developer Portal OAuth2 URL with the scopes bot and applications.commands and that permission integer', () => {
		const url = new URL(inviteUrl(APP_ID));
		expect(`${url.origin}${url.pathname}`).toBe('https://discord.com/oauth2/authorize');
		expect([...url.searchParams.entries()]).toEqual([
			['client_id', APP_ID],
			['permissions', botPermissions().toString()],
			['scope', 'bot applications.commands']
		]);
	});

	it('README gives the same permission integer and scopes, and names every permission', () => {
		const links = README.match(/https:\/\/discord\.com\/oauth2\/authorize\?[^\s)`]+/g) ?? [];
		expect(links.length).toBeGreaterThan(0);
		for (const link of links) {
			const url = new URL(link);
			expect(url.searchParams.get('permissions')).toBe(botPermissions().toString());
			expect(url.searchParams.get('scope')).toBe('bot applications.commands');
		}
		expect(README).toContain(`\`${botPermissions().toString()}\``);
		for (const permission of BOT_PERMISSIONS) expect(README).toContain(permission.label);
	});
});

describe('readyReport', () => {
	it('logs the invite link, then the servers, then where commands are registered', () => {
		const lines = readyReport({
			applicationId: APP_ID,
			servers: [
				{ id: '223456789012345678', name: 'Test server' },
				{ id: '323456789012345678', name: 'Friends' }
			],
			commandGuildIds: []
		});
		expect(lines.map((line) => line.message)).toEqual([
			`Invite link (scopes bot, applications.commands; permissions 274877959168: View Channel, Send Messages, Send Messages in Threads, Embed Links, Attach Files): ${inviteUrl(APP_ID)}`,
			'In 2 servers: Test server (223456789012345678), Friends (323456789012345678)',
			'Slash commands are registered globally (COMMAND_GUILD_IDS is empty): a change can take a while to show everywhere.'
		]);
		expect(lines[0]!.details).toMatchObject({ inviteUrl: inviteUrl(APP_ID), applicationId: APP_ID, permissions: '274877959168' });
	});

	it('in no server yet: says to open the invite link', () => {
		const [, servers] = readyReport({ applicationId: APP_ID, servers: [], commandGuildIds: [] });
		expect(servers!.message).toBe('In no server yet: open the invite link above to add the bot to one.');
	});

	it('a large bot: a count and the first ten names', () => {
		const servers = Array.from({ length: 25 }, (_, index) => ({ id: String(100_000_000_000_000_000n + BigInt(index)), name: `S${index}` }));
		const [, line] = readyReport({ applicationId: APP_ID, servers, commandGuildIds: [] });
		expect(line!.message).toMatch(/^In 25 servers: S0 \(100000000000000000\), .*S9 \(100000000000000009\), and 15 more$/);
	});

	it('COMMAND_GUILD_IDS: names the test servers, and warns about one the bot is not in', () => {
		const lines = readyReport({
			applicationId: APP_ID,
			servers: [{ id: '223456789012345678', name: 'Test server' }],
			commandGuildIds: ['223456789012345678', '423456789012345678']
		});
		expect(lines.slice(2)).toEqual([
			expect.objectContaining({
				level: 'info',
				message: 'Slash commands are registered in servers 223456789012345678, 423456789012345678 only (COMMAND_GUILD_IDS).'
			}),
			expect.objectContaining({
				level: 'warn',
				message:
					'COMMAND_GUILD_IDS names a server the bot is not in (423456789012345678): Discord will refuse to register the commands there. Add the bot with the invite link, or fix the id.'
			})
		]);
	});
});
