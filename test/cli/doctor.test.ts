import { mkdir, open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FakeA1111Server } from '../generation/fakes/a1111Server.js';
import { FakeStabilityServer, STABILITY_TEST_KEY } from '../generation/fakes/stabilityServer.js';
import { POSTGRES_SCHEMA_VERSION } from '../../src/plugins/storage/ledger/postgres/schema.js';
import { SqliteConnection } from '../../src/plugins/storage/ledger/sqlite/SqliteConnection.js';
import { SCHEMA_VERSION } from '../../src/plugins/storage/ledger/sqlite/schema.js';
import { createTestSchema, postgresSkipNote, postgresUnavailable } from '../helpers/postgres.js';
import { S3TestServer } from '../helpers/s3Server.js';
import { USER_A } from '../helpers/storageFixtures.js';
import { cliEnv, jsonOf, newTempDir, removeTempDirs, runInProcess } from './helpers.js';

/*
 * `sapphire-imagine doctor` on good and broken set-ups: real storage roots and SQLite files in temp folders, the
 * Stability and AUTOMATIC1111 fakes on 127.0.0.1. Each broken case checks the exit code, the failed check, and
 * that the report says what to fix.
 */

// A token of the shape Discord issues (its first part is a user id in base64): not a real one.
const TOKEN = `${Buffer.from('123456789012345678').toString('base64url')}.GabcDE.abcdefghijklmnopqrstuvwxyz0123456789ABC`;

interface Check {
	name: string;
	status: string;
	reason?: string;
	message: string;
	fix?: string;
	details?: Record<string, unknown>;
}
interface Report {
	ok: boolean;
	reason?: string;
	message?: string;
	checks: Check[];
}

/** Runs SQL on a ledger file directly, as an older or a newer program would have left it. */
async function sql(file: string, script: string): Promise<void> {
	const connection = await SqliteConnection.open(file, 1000);
	try {
		await connection.exec(script);
	} finally {
		await connection.close();
	}
}

const setUserVersion = (file: string, version: number) => sql(file, `PRAGMA user_version = ${version}`);

/** The first schema's tables, without a version number: a ledger from before versioning. */
const createV1Ledger = (file: string) =>
	sql(
		file,
		`CREATE TABLE imagine_files (user_id TEXT NOT NULL, image_id TEXT NOT NULL, temp INTEGER NOT NULL, ext TEXT NOT NULL,
			bytes INTEGER NOT NULL, created_at INTEGER NOT NULL, name TEXT NOT NULL, metadata TEXT, reservation_id TEXT,
			PRIMARY KEY (user_id, image_id));
		CREATE TABLE imagine_totals (scope TEXT PRIMARY KEY, bytes INTEGER NOT NULL, files INTEGER NOT NULL) WITHOUT ROWID;
		INSERT INTO imagine_totals VALUES ('global', 0, 0), ('temp', 0, 0);`
	);

const servers: { close(): Promise<void> }[] = [];
afterEach(async () => {
	for (const server of servers.splice(0)) await server.close();
});
afterAll(removeTempDirs);

async function doctor(more: NodeJS.ProcessEnv = {}, root?: string) {
	const dir = root ?? (await newTempDir('imagine-doctor-')).root;
	const run = await runInProcess(['doctor', '--json'], cliEnv(dir, { DISCORD_TOKEN: TOKEN, ...more }), { cwd: dir });
	const report = jsonOf<Report>(run);
	const check = (name: string) => report.checks.find((entry) => entry.name === name)!;
	return { ...run, root: dir, report, check };
}

async function stability(options: { credits?: number } = {}) {
	const fake = await FakeStabilityServer.start(options);
	servers.push(fake);
	return fake;
}

describe('sapphire-imagine doctor', () => {
	it('a fresh set-up with the offline provider: every check passes, exit 0', async () => {
		const { code, report, stderr } = await doctor();
		expect(code, stderr).toBe(0);
		expect(report.ok).toBe(true);
		expect(report.checks.map((check) => [check.name, check.status])).toEqual([
			['configuration', 'ok'],
			['storage', 'ok'],
			['ledger', 'ok'],
			['provider', 'ok']
		]);
		expect(report.checks[2]!.message).toMatch(/quota\.sqlite does not exist yet: the bot creates it when it starts$/);
		expect(report.checks[3]!.message).toContain('preview');
	});

	it('prints a readable report without --json, on stdout when nothing failed', async () => {
		const { root } = await newTempDir('imagine-doctor-');
		const run = await runInProcess(['doctor'], cliEnv(root, { DISCORD_TOKEN: TOKEN }), { cwd: root });
		expect(run.code).toBe(0);
		expect(run.stdout).toMatch(/^ok {4}configuration {2}read from the environment/m);
		expect(run.stdout).toMatch(/^ok {4}storage {8}\S+ is writable; \d+ MB free on its disk/m);
		expect(run.stdout.trimEnd().split('\n').at(-1)).toBe('Ready.');
	});

	it('a ledger the bot has used: sound, in WAL mode, its tables and schema version reported', async () => {
		const { root } = await newTempDir('imagine-doctor-');
		const saved = await runInProcess(['generate', '--user', USER_A, '--prompt', 'x', '--width', '64', '--height', '64'], cliEnv(root));
		expect(saved.code, saved.stderr).toBe(0);
		const { code, check } = await doctor({}, root);
		expect(code).toBe(0);
		expect(check('ledger')).toMatchObject({
			status: 'ok',
			message: expect.stringMatching(
				new RegExp(`quota\\.sqlite is sound \\(quick_check ok, journal wal, schema version ${SCHEMA_VERSION}\\)$`)
			),
			details: {
				integrity: ['ok'],
				schemaVersion: SCHEMA_VERSION,
				currentVersion: SCHEMA_VERSION,
				tables: [
					'imagine_files',
					'imagine_totals',
					'imagine_daily',
					'imagine_reservations',
					'imagine_overrides',
					'imagine_meta',
					'imagine_instances',
					'imagine_rate_places',
					'imagine_blocklist',
					'imagine_blocks',
					'imagine_guild_settings',
					'imagine_guild_daily',
					'imagine_credit_daily',
					'imagine_credit_budgets'
				],
				missingTables: []
			}
		});
		expect(check('storage').message).toMatch(/room for the 5000 MB cap \([\d.]+ MB stored\)$/);
	});

	describe('broken configuration: exit 2, the rest not checked', () => {
		it('a bad variable is named with what is expected', async () => {
			const { code, report, check } = await doctor({ MAX_GLOBAL_STORAGE_MB: '-1' });
			expect(code).toBe(2);
			expect(report).toMatchObject({ ok: false, reason: 'CONFIG' });
			expect(check('configuration')).toMatchObject({
				status: 'fail',
				message: expect.stringContaining('MAX_GLOBAL_STORAGE_MB: expected a number of megabytes above 0 (got "-1")'),
				fix: expect.stringContaining('.env.example describes each one')
			});
			expect(report.checks.slice(1).map((entry) => entry.status)).toEqual(['skipped', 'skipped', 'skipped']);
		});

		it('no DISCORD_TOKEN: the bot cannot log in, and the report says where the token comes from', async () => {
			const { code, check } = await doctor({ DISCORD_TOKEN: '' });
			expect(code).toBe(2);
			expect(check('configuration')).toMatchObject({
				status: 'fail',
				reason: 'CONFIG',
				message: expect.stringMatching(/^DISCORD_TOKEN is not set: the bot cannot log in/),
				fix: expect.stringContaining('Developer Portal -> your application -> Bot -> Reset Token')
			});
			expect(check('storage').status).toBe('ok');
		});

		it('a client secret pasted as the token: a warning that names what the token is not, exit 0', async () => {
			const { code, check, stdout } = await doctor({ DISCORD_TOKEN: 'Xy3kQ9vLmN0pR7sT2uVwZa5bC8dE1fGh' });
			expect(code).toBe(0);
			expect(check('configuration')).toMatchObject({
				status: 'warn',
				fix: expect.stringContaining('OAuth2 Client Secret are not the token')
			});
			expect(stdout).not.toContain('Xy3kQ9vLmN0pR7sT2uVwZa5bC8dE1fGh');
		});

		it('an unreadable .env is reported as the configuration failure', async () => {
			const { root } = await newTempDir('imagine-doctor-');
			await mkdir(join(root, '.env'), { recursive: true });
			const run = await runInProcess(['doctor', '--json'], cliEnv(root, { DISCORD_TOKEN: TOKEN }), { cwd: root });
			expect(run.code).toBe(2);
			expect(jsonOf<Report>(run).checks[0]).toMatchObject({ status: 'fail', message: expect.stringContaining(`Cannot read ${root}/.env`) });
		});
	});

	describe('broken storage or ledger: exit 1, or 2 for a ledger the bot would refuse', () => {
		it('a file where the images folder should be', async () => {
			const { root } = await newTempDir('imagine-doctor-');
			await mkdir(root, { recursive: true });
			await writeFile(join(root, 'images'), 'not a folder');
			await mkdir(join(root, 'temp'));
			const { code, check } = await doctor({}, root);
			expect(code).toBe(0); // images/users does not exist: the check looks at the folders that do
			await rm(join(root, 'temp'), { recursive: true });
			await writeFile(join(root, 'temp'), 'not a folder either');
			const broken = await doctor({}, root);
			expect(broken.code).toBe(1);
			expect(broken.report.reason).toBe('IO');
			expect(broken.check('storage')).toMatchObject({
				status: 'fail',
				message: `cannot write in ${root}/temp: it is not a folder`,
				fix: expect.stringContaining('or point STORAGE_ROOT somewhere else')
			});
			expect(check('storage').status).toBe('ok');
		});

		it('a global cap larger than the free disk: a warning with a cap that fits', async () => {
			const { code, check } = await doctor({ MAX_GLOBAL_STORAGE_MB: String(1024 ** 3) });
			expect(code).toBe(0);
			expect(check('storage')).toMatchObject({
				status: 'warn',
				message: expect.stringContaining('the disk fills up before the cap stops new images'),
				fix: expect.stringMatching(/^Lower MAX_GLOBAL_STORAGE_MB to about \d+, or free space on that disk\.$/)
			});
		});

		it('a ledger that belongs to another storage root: the bot would refuse it, exit 2 and which variable to fix', async () => {
			const first = await newTempDir('imagine-doctor-');
			const second = await newTempDir('imagine-doctor-');
			const shared = `sqlite://${join(first.root, 'quota.sqlite')}`;
			for (const root of [first.root, second.root]) {
				const opened = await runInProcess(['status', '--user', USER_A], cliEnv(root, { QUOTA_LEDGER_URI: shared }));
				expect(opened.code).toBe(root === first.root ? 0 : 2);
			}
			const { code, report, check } = await doctor({ QUOTA_LEDGER_URI: shared }, second.root);
			expect(code).toBe(2);
			expect(report.reason).toBe('CONFIG');
			expect(check('ledger')).toMatchObject({
				status: 'fail',
				message: expect.stringContaining('belongs to another storage'),
				fix: expect.stringContaining('point QUOTA_LEDGER_URI at this root')
			});
			expect((await doctor({ QUOTA_LEDGER_URI: shared }, first.root)).check('ledger').status).toBe('ok');
		});

		it('a ledger written by a newer version: refused, with the advice to update', async () => {
			const { root } = await newTempDir('imagine-doctor-');
			const saved = await runInProcess(['status', '--user', USER_A], cliEnv(root));
			expect(saved.code, saved.stderr).toBe(0);
			await setUserVersion(join(root, 'quota.sqlite'), 99);
			const { code, check } = await doctor({}, root);
			expect(code).toBe(1);
			expect(check('ledger')).toMatchObject({
				status: 'fail',
				message: expect.stringContaining(
					`has schema version 99, newer than this version of sapphire-imagine understands (${SCHEMA_VERSION})`
				),
				fix: expect.stringContaining('update this one')
			});
		});

		it('a ledger from before versioning: sound, and upgraded when the bot next starts', async () => {
			const { root } = await newTempDir('imagine-doctor-');
			await mkdir(root, { recursive: true });
			await createV1Ledger(join(root, 'quota.sqlite'));
			const { code, check } = await doctor({}, root);
			expect(code).toBe(0);
			expect(check('ledger')).toMatchObject({
				status: 'ok',
				message: expect.stringContaining(`schema version 1, upgraded to ${SCHEMA_VERSION} when the bot next starts)`)
			});
		});

		it('a ledger that is not a database: exit 2 as the bot gives, and how a new one is rebuilt from the images', async () => {
			const { root } = await newTempDir('imagine-doctor-');
			await mkdir(root, { recursive: true });
			await writeFile(join(root, 'quota.sqlite'), Buffer.alloc(8192, 0x5a));
			const { code, report, check } = await doctor({}, root);
			expect(code).toBe(2);
			expect(report).toMatchObject({
				ok: false,
				reason: 'CONFIG',
				message: expect.stringMatching(/^ledger: .*quota\.sqlite cannot be read: .*not a database/)
			});
			expect(check('ledger').fix).toContain('.damaged, with its -wal and -shm files) and start again');
			// The bot says the same: it refuses the file as a configuration error.
			const bot = await runInProcess(['status', '--user', USER_A], cliEnv(root));
			expect(bot.code).toBe(2);
			expect(bot.stderr).toContain('is damaged');
		});

		it('a ledger that cannot be opened (a folder in its place): exit 1, check the file', async () => {
			const { root } = await newTempDir('imagine-doctor-');
			await mkdir(join(root, 'quota.sqlite'), { recursive: true });
			const { code, check } = await doctor({}, root);
			expect(code).toBe(1);
			expect(check('ledger')).toMatchObject({
				reason: 'IO',
				details: { errorCode: 'SQLITE_CANTOPEN' },
				fix: expect.stringContaining("bot's user")
			});
		});

		it('a ledger with damaged pages: PRAGMA quick_check says what is wrong', async () => {
			const { root } = await newTempDir('imagine-doctor-');
			for (const user of [USER_A, '223456789012345678']) {
				const saved = await runInProcess(['generate', '--user', user, '--prompt', 'x', '--width', '64', '--height', '64'], cliEnv(root));
				expect(saved.code, saved.stderr).toBe(0);
			}
			// The page of an index of the files table: the schema (by now several pages of its own) still reads, that page
			// does not. Checkpointed first, so the file holds every page (in WAL mode the newest may be in the log).
			const ledger = await SqliteConnection.open(join(root, 'quota.sqlite'), 5000);
			await ledger.exec('PRAGMA wal_checkpoint(TRUNCATE)');
			const [index] = await ledger.all("SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_imagine_files_1'");
			await ledger.close();
			const file = await open(join(root, 'quota.sqlite'), 'r+');
			await file.write(Buffer.alloc(4096, 0xff), 0, 4096, (Number(index?.rootpage) - 1) * 4096);
			await file.close();
			const { code, check } = await doctor({}, root);
			expect(code).toBe(2);
			expect(check('ledger')).toMatchObject({ status: 'fail', reason: 'CONFIG', fix: expect.stringContaining('start again') });
			expect(check('ledger').message).toMatch(/quota\.sqlite is damaged \(PRAGMA quick_check: \*\*\* in database main \*\*\*/);
		});
	});

	describe('the provider: exit 4 when it cannot work', () => {
		it('Stability with a good key: a free balance request, the credits left, nothing generated', async () => {
			const fake = await stability({ credits: 42.75 });
			const { code, check } = await doctor({ IMAGE_PROVIDER: 'stability', STABILITY_API_KEY: STABILITY_TEST_KEY, API_HOST: fake.url });
			expect(code).toBe(0);
			expect(check('provider')).toMatchObject({
				status: 'ok',
				message: 'stability (stable-image-core): key accepted; 42.75 credits left',
				details: { credits: 42.75 }
			});
			expect(fake.requests.map((request) => `${request.method} ${request.path}`)).toEqual(['GET /v1/user/balance']);
			expect(fake.problems).toEqual([]);
		});

		it('Stability refuses the key: AUTH, where to get a key, and the key never printed', async () => {
			const fake = await stability();
			const wrongKey = 'sk-WRONGwrongWRONGwrong0123456789';
			const { code, report, check, stdout, stderr } = await doctor({
				IMAGE_PROVIDER: 'stability',
				STABILITY_API_KEY: wrongKey,
				API_HOST: fake.url
			});
			expect(code).toBe(4);
			expect(report.reason).toBe('AUTH');
			expect(check('provider')).toMatchObject({
				status: 'fail',
				fix: expect.stringContaining('https://platform.stability.ai/account/keys')
			});
			expect(stdout + stderr).not.toContain(wrongKey);
		});

		it('Stability out of credits: a warning, exit 0', async () => {
			const fake = await stability({ credits: 0.5 });
			const { code, check } = await doctor({ IMAGE_PROVIDER: 'stability', STABILITY_API_KEY: STABILITY_TEST_KEY, API_HOST: fake.url });
			expect(code).toBe(0);
			expect(check('provider')).toMatchObject({ status: 'warn', fix: 'Buy credits at https://platform.stability.ai/account/credits.' });
		});

		it('Stability selected without a key: NOT_CONFIGURED and the two ways out', async () => {
			const { code, check } = await doctor({ IMAGE_PROVIDER: 'stability' });
			expect(code).toBe(4);
			expect(check('provider')).toMatchObject({
				reason: 'NOT_CONFIGURED',
				message: 'stability: NOT_CONFIGURED: the stability provider is selected but no Stability API key is set',
				fix: expect.stringContaining('or IMAGE_PROVIDER=preview to run offline')
			});
		});

		it('API_HOST that nothing listens on: UNAVAILABLE, check the network and API_HOST', async () => {
			const fake = await stability();
			const url = fake.url;
			await fake.close();
			const { code, check } = await doctor({ IMAGE_PROVIDER: 'stability', STABILITY_API_KEY: STABILITY_TEST_KEY, API_HOST: url });
			expect(code).toBe(4);
			expect(check('provider')).toMatchObject({ reason: 'UNAVAILABLE', fix: `Check this machine's network and API_HOST (${url}).` });
		});

		it('AUTOMATIC1111: the web UI answers; with --api-auth and no A1111_AUTH, AUTH and which variable to set', async () => {
			const open = await FakeA1111Server.start();
			const locked = await FakeA1111Server.start({ username: 'owner', password: 'hunter2hunter2' });
			servers.push(open, locked);
			const good = await doctor({ IMAGE_PROVIDER: 'automatic1111', API_HOST: open.url });
			expect(good.code).toBe(0);
			expect(good.check('provider').message).toBe("automatic1111 (stable-diffusion-webui): the web UI's API answers (generating now)");
			expect(open.requests.map((request) => `${request.method} ${request.path}`)).toEqual(['GET /sdapi/v1/progress']);

			const refused = await doctor({ IMAGE_PROVIDER: 'automatic1111', API_HOST: locked.url });
			expect(refused.code).toBe(4);
			expect(refused.check('provider')).toMatchObject({ reason: 'AUTH', fix: expect.stringContaining('set A1111_AUTH') });
			const allowed = await doctor({ IMAGE_PROVIDER: 'automatic1111', API_HOST: locked.url, A1111_AUTH: 'owner:hunter2hunter2' });
			expect(allowed.code).toBe(0);
			expect(allowed.stdout + allowed.stderr).not.toContain('hunter2hunter2');
		});
	});

	describe.skipIf(postgresUnavailable)(`several machines: a PostgreSQL ledger and a bucket${postgresSkipNote}`, () => {
		let s3: S3TestServer;
		const schemas: { drop(): Promise<void> }[] = [];
		afterEach(async () => {
			for (const schema of schemas.splice(0)) await schema.drop();
		});
		afterAll(async () => {
			await s3?.close();
		});
		const startS3 = async () => (s3 ??= await S3TestServer.start());

		it('a PostgreSQL ledger and a bucket in use: both answer, the schema version and the store reported, exit 0', async () => {
			const schema = await createTestSchema();
			schemas.push(schema);
			const server = await startS3();
			const bucket = await server.createBucket();
			const env = { QUOTA_LEDGER_URI: schema.uri(), ...server.env(bucket) };
			const { root } = await newTempDir('imagine-doctor-');
			const empty = await doctor(env, root);
			expect(empty.code, empty.stderr).toBe(0);
			expect(empty.check('ledger').message).toMatch(/no schema yet: the bot creates it when it starts$/);

			const saved = await runInProcess(
				['generate', '--user', USER_A, '--prompt', 'x', '--width', '64', '--height', '64'],
				cliEnv(root, env)
			);
			expect(saved.code, saved.stderr).toBe(0);
			const { code, check, stderr } = await doctor(env, root);
			expect(code, stderr).toBe(0);
			expect(check('ledger')).toMatchObject({
				status: 'ok',
				message: expect.stringContaining(`answers (schema version ${POSTGRES_SCHEMA_VERSION})`)
			});
			expect(check('storage')).toMatchObject({ status: 'ok', message: expect.stringContaining(`s3://${bucket}/imagine`) });
		});

		it('a PostgreSQL server that does not answer: exit 1, what to check, and the password never printed', async () => {
			const { code, check, stdout } = await doctor({ QUOTA_LEDGER_URI: 'postgres://imagine:Sup3rSecretPw@127.0.0.1:9/imagine' });
			expect(code).toBe(1);
			expect(check('ledger')).toMatchObject({ status: 'fail', reason: 'IO', fix: expect.stringContaining('QUOTA_LEDGER_URI') });
			expect(check('ledger').message).toContain('127.0.0.1:9');
			expect(stdout).not.toContain('Sup3rSecretPw');
		});

		it('a bucket that does not exist: exit 2, the variables to check', async () => {
			const server = await startS3();
			const { code, check } = await doctor({ ...server.env('no-such-bucket') });
			expect(code).toBe(2);
			expect(check('storage')).toMatchObject({ status: 'fail', reason: 'CONFIG', fix: expect.stringContaining('STORAGE_URI') });
			expect(check('storage').message).toContain('no-such-bucket');
		});
	});

	it('the exit code is that of the first failed check, and every failure is listed', async () => {
		const { root } = await newTempDir('imagine-doctor-');
		await mkdir(root, { recursive: true });
		await writeFile(join(root, 'quota.sqlite'), 'garbage');
		const run = await runInProcess(['doctor'], cliEnv(root, { DISCORD_TOKEN: TOKEN, IMAGE_PROVIDER: 'stability' }), { cwd: root });
		expect(run.code).toBe(2);
		expect(run.stdout).toBe('');
		expect(run.stderr).toMatch(/^FAIL {2}ledger/m);
		expect(run.stderr).toMatch(/^FAIL {2}provider/m);
		expect(run.stderr.trimEnd().split('\n').at(-1)).toBe('2 checks failed (ledger, provider): exit code 2.');
	});
});
