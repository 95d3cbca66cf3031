/**
 * The package as a stranger gets it: `npm pack` of a fresh copy of the checkout (no dist/: prepack builds it),
 * the tarball installed from the npm registry into three small bots (CommonJS JavaScript, TypeScript compiled to
 * CommonJS, ES modules) that share one install, at the oldest and at the newest @sapphire/framework 5 and
 * discord.js 14 the peer ranges allow. Slow (sqlite3 compiles from source once): the `packaging` vitest project.
 */
import { mkdir, mkdtemp, readFile, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectSuccess, freshCopy, REPO, run, type Run } from './checkout.js';
import { RUNNABLE_BOTS, TYPESCRIPT_BOTS, writeConsumerBots, type ConsumerVersions } from './consumerBots.js';
import { DiscordStandIn } from '../helpers/discord/DiscordStandIn.js';

const TSC = join(REPO, 'node_modules/typescript/bin/tsc');

/** The lower ends of the peer ranges in package.json, the oldest releases the plugins are proven to work with. */
const OLDEST: ConsumerVersions = { framework: '5.0.2', discordJs: '14.14.1' };
/** The upper ends: the releases the repository itself is developed and tested against. */
const NEWEST: ConsumerVersions = {
	framework: await installedVersion('@sapphire/framework'),
	discordJs: await installedVersion('discord.js')
};

async function installedVersion(name: string): Promise<string> {
	return (JSON.parse(await readFile(join(REPO, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

let work: string;
let tarball: string;
let tarballFiles: string[];
let discord: DiscordStandIn;

beforeAll(async () => {
	work = await mkdtemp(join(tmpdir(), 'imagine-packaging-'));
	const source = join(work, 'source');
	await freshCopy(source);
	const packed = expectSuccess(await run('npm', ['pack', '--json', '--pack-destination', work], source, {}, 300_000), 'npm pack');
	const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
	tarball = join(work, info!.filename);
	tarballFiles = info!.files.map((file) => file.path);
	// Discord refuses the token (as after a reset in the Developer Portal): login fails at its first request.
	discord = await DiscordStandIn.start();
	discord.faults.rejectToken = true;
});

afterAll(async () => {
	await discord?.stop();
	if (work) await rm(work, { recursive: true, force: true });
});

describe('the packed tarball', () => {
	it('holds both builds, their declarations, the LICENSE and no source maps or build caches', async () => {
		const manifest = JSON.parse(await readFile(join(work, 'source', 'package.json'), 'utf8')) as {
			main?: string;
			exports: Record<string, string | Record<string, { types: string; default: string }>>;
			sideEffects: string[];
			bin: Record<string, string>;
		};
		const shipped = new Set(tarballFiles);
		const targets = Object.values(manifest.exports).flatMap((entry) =>
			typeof entry === 'string' ? [entry] : Object.values(entry).flatMap((condition) => [condition.types, condition.default])
		);
		for (const path of [...targets, ...manifest.sideEffects, ...Object.values(manifest.bin)])
			expect(shipped).toContain(path.replace(/^\.\//, ''));
		expect(shipped).toContain('LICENSE');
		expect(shipped).toContain('dist/cjs/package.json');
		expect(tarballFiles.filter((path) => /\.map$|tsbuildinfo|^src\//.test(path))).toEqual([]);
		// The bot's entry logs in when imported: it is nobody's `main`.
		expect(manifest.main).toBeUndefined();
		// Every subpath answers `import` and `require`, types first.
		for (const [subpath, entry] of Object.entries(manifest.exports)) {
			if (subpath === './package.json') continue;
			expect(Object.keys(entry)).toEqual(['import', 'require']);
			for (const condition of Object.values(entry as Record<string, object>)) expect(Object.keys(condition)).toEqual(['types', 'default']);
		}
	});
});

describe.each([
	['oldest', OLDEST],
	['newest', NEWEST]
])('three bots at the %s supported releases', (_end, versions) => {
	const bots = () => join(work, 'bots');
	let install: Run;
	const typeChecks = new Map<string, Run>();

	beforeAll(async () => {
		await mkdir(bots(), { recursive: true });
		await writeConsumerBots(bots(), tarball, versions);
		// The second end reuses the first end's node_modules: only the framework and discord.js change.
		install = expectSuccess(
			await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], bots(), {}, 900_000),
			'npm install'
		);
		for (const bot of TYPESCRIPT_BOTS) typeChecks.set(bot, await run(process.execPath, [TSC, '-p', join(bots(), bot)], bots()));
	});

	it(`installs with @sapphire/framework ${versions.framework} and discord.js ${versions.discordJs}, one copy of each, every peer range met`, async () => {
		expect(install.stderr).not.toMatch(/ERESOLVE|peer dep|install-scripts/i);
		const listed = await run('npm', ['ls', '--all', '--parseable', '--long', '@sapphire/framework', 'discord.js'], bots());
		// npm ls exits non-zero on a missing or out-of-range (peer) dependency anywhere in the tree.
		expect(listed.stderr).toBe('');
		expect(listed.code).toBe(0);
		const copies = listed.stdout
			.split('\n')
			.map((line) => line.split(':')[1])
			.filter((id) => id?.startsWith('@sapphire/framework@') || id?.startsWith('discord.js@'));
		expect(copies.sort()).toEqual([`@sapphire/framework@${versions.framework}`, `discord.js@${versions.discordJs}`]);
	});

	it.each(TYPESCRIPT_BOTS)('type-checks the %s bot against the augmentations', (bot) => {
		const result = typeChecks.get(bot)!;
		expect(result.stdout + result.stderr).toBe('');
		expect(result.code).toBe(0);
	});

	it.each(RUNNABLE_BOTS)('starts the $name bot up to login with the plugins in place', async ({ name, entry }) => {
		const dir = await realpath(join(bots(), name));
		await rm(join(dir, 'data'), { recursive: true, force: true });
		const before = discord.recorder.requests.length;
		const started = await run(process.execPath, [entry], dir, { DISCORD_TOKEN: discord.token, DISCORD_API_URL: discord.apiUrl }, 60_000);
		// Exactly one warning, from the generation plugin: no Stability key, so images come from the preview provider.
		expect(started.stderr.split('\n').filter(Boolean)).toEqual([expect.stringContaining('No Stability API key')]);
		// It ends by itself once the client is destroyed: nothing the plugins opened keeps it alive.
		expect(started.code).toBe(0);

		// It reached login: the first request of client.login() came to the stand-in, with the bot's token.
		expect(discord.recorder.requests.slice(before).map(({ route, auth, status }) => ({ route, auth, status }))).toEqual([
			{ route: 'GET /gateway/bot', auth: 'bot', status: 401 }
		]);
		const line = started.stdout.split('\n').find((text) => text.startsWith('REPORT '));
		expect(line, started.stdout).toBeDefined();
		const report = JSON.parse(line!.slice('REPORT '.length)) as Record<string, unknown>;
		expect(report).toMatchObject({
			loginError: 'TokenInvalid',
			job: 'stored',
			dailyLimit: 3,
			dailyRemaining: 3,
			storageRoot: join(dir, 'data'),
			generator: 'preview',
			imageJobs: 'function',
			walBeforeDestroy: true,
			walAfterDestroy: false
		});
		// The plugins' preconditions beside the bot's own pieces, loaded from its folders.
		expect(report.preconditions).toEqual(expect.arrayContaining(['DailyLimit', 'UserStorage', 'GlobalStorage', 'CanPaint']));
		expect(report.commands).toEqual(['paint']);
		expect(report.listeners).toEqual(expect.arrayContaining(['paintDenied']));
		expect(started.stdout).toContain(
			`Images and the quota ledger are stored in ${join(dir, 'data')} (storageRoot "data", relative to the working directory)`
		);
	});

	it('runs the sapphire-imagine command, which says how to get pino rather than failing on it', async () => {
		const result = await run(join(bots(), 'node_modules/.bin/sapphire-imagine'), ['status', '--json'], bots());
		expect(result.code).toBe(2);
		expect(result.stderr).toBe('sapphire-imagine: this command logs with pino, which is not installed here. Run: npm install pino@^10\n');
	});
});
