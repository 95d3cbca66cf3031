import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, rename, symlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USER_A, USER_B, USER_C } from '../helpers/storageFixtures.js';
import { cliEnv, jsonOf, killChildren, newTempDir, removeTempDirs, runInProcess, spawnCli } from './helpers.js';

/*
 * Hostile input. `delete` and `images` (and `reset --storage`) get traversal names and ids: relative and absolute
 * paths, NUL bytes, URL-encoded and full-width dots, separators of other systems, another user's image, and a user
 * folder that is a symlink out of the storage root. Nothing outside the root may change: canary files beside the
 * root, and at every place a traversal could land, must survive every case, and so must the users' images.
 */

let dir: string;
let root: string;
let env: NodeJS.ProcessEnv;
let idsOfA: string[];
let idOfB: string;
let idOfC: string;

const CANARIES = ['canary.txt', 'x', 'x.png', 'x.json', join('root', 'x'), join('root', 'images', 'x'), join('root', 'images', 'x.png')];

/** Every file under `dir` (symlinks as their target) with its content hash, but the ledger and the event log. */
async function snapshot(): Promise<Map<string, string>> {
	const files = new Map<string, string>();
	const walk = async (folder: string): Promise<void> => {
		for (const name of await readdir(folder)) {
			const path = join(folder, name);
			const key = relative(dir, path);
			if (/^root\/(quota\.sqlite|logs\/)/.test(key)) continue;
			const stats = await lstat(path);
			if (stats.isSymbolicLink()) files.set(key, `-> ${await readlink(path)}`);
			else if (stats.isDirectory()) await walk(path);
			else
				files.set(
					key,
					createHash('sha256')
						.update(await readFile(path))
						.digest('hex')
				);
		}
	};
	await walk(dir);
	return files;
}

let before: Map<string, string>;

beforeAll(async () => {
	({ dir, root } = await newTempDir('imagine-hostile-'));
	env = cliEnv(root);
	const generate = async (user: string) => {
		const run = await runInProcess(['generate', '--user', user, '--prompt', 'canary', '--width', '64', '--height', '64', '--json'], env);
		return jsonOf<{ image: { id: string } }>(run).image.id;
	};
	idsOfA = [await generate(USER_A), await generate(USER_A)];
	idOfB = await generate(USER_B);
	idOfC = await generate(USER_C);
	for (const canary of CANARIES) await writeFile(join(dir, canary), `canary ${canary}`);
	// USER_C's folder now lives outside the root, reached through a symlink: the storage must refuse to follow it.
	await mkdir(join(dir, 'outside'));
	await rename(join(root, 'images', 'users', USER_C), join(dir, 'outside', USER_C));
	await symlink(join(dir, 'outside', USER_C), join(root, 'images', 'users', USER_C));
	before = await snapshot();
}, 30_000);

afterAll(async () => {
	killChildren();
	await removeTempDirs();
});

async function expectNothingTouched() {
	expect(await snapshot()).toEqual(before);
}

const badUsers = [
	'../../x',
	'../..',
	'..',
	'/etc',
	'/',
	`${USER_A}/../${USER_B}`,
	`${USER_A}/../../../x`,
	`../${USER_A}`,
	`${USER_A}\0`,
	`${USER_A}\0/../../x`,
	'\0',
	'%2e%2e%2f%2e%2e%2fx',
	'..%2F..%2Fx',
	'%2e%2e',
	'．．／x',
	`${USER_A}\n`,
	` ${USER_A}`,
	'-123456789012345678',
	'0x1b69b4ba630f34e',
	'1'.repeat(21),
	'1'.repeat(5000),
	''
];

describe('images and delete with hostile user ids', () => {
	it.each(badUsers.map((user) => [JSON.stringify(user), user]))('--user %s: refused with exit 2, nothing touched', async (_label, user) => {
		for (const argv of [
			['images', '--user', user, '--json'],
			['delete', '--user', user, '--image', idsOfA[0] as string, '--json'],
			['reset', '--user', user, '--storage', '--json']
		]) {
			const run = await runInProcess(argv, env);
			expect(run.code, `${argv[0]}: ${run.stderr}`).toBe(2);
			// INVALID_NAME, or USAGE when the value looks like an option (`-123…`).
			expect(jsonOf(run)).toMatchObject({ ok: false, reason: expect.stringMatching(/^(INVALID_NAME|USAGE)$/) });
		}
		await expectNothingTouched();
	});
});

describe('delete with hostile image ids', () => {
	const badImages = (): string[] => {
		const legit = idsOfA[0] as string;
		return [
			'../../x',
			'../../../x',
			'../../x.png',
			`../${USER_B}/${idOfB}`,
			`../../../${relative(root, join(dir, 'canary.txt'))}`,
			join(dir, 'canary.txt'),
			join(dir, 'x.png'),
			'/etc/passwd',
			'..%2F..%2Fx',
			'%2e%2e%2f%2e%2e%2fx',
			'.%2e/.%2e/x',
			'%252e%252e%252fx',
			'..\\..\\x',
			'．．／．．／x',
			'x\0',
			'\0',
			`${legit}\0`,
			`${legit}\0../../x`,
			`${legit}/../../x`,
			`${legit}.png`,
			`${legit}.json`,
			`.${legit}.png.partial-00`,
			legit.toUpperCase(),
			`${legit}\n`,
			` ${legit}`,
			legit.slice(0, 15),
			`${legit}0`,
			'.',
			'..',
			'*',
			'',
			'a'.repeat(5000)
		];
	};

	it('every malformed id: exit 2, nothing touched; the images are all still listed', async () => {
		for (const image of badImages()) {
			for (const argv of [
				['delete', '--user', USER_A, '--image', image, '--json'],
				['delete', '--user', USER_A, `--image=${image}`]
			]) {
				const run = await runInProcess(argv, env);
				expect(run.code, `${JSON.stringify(image)}: ${run.stderr}`).toBe(2);
			}
		}
		await expectNothingTouched();
		const listed = jsonOf<{ images: { id: string }[] }>(await runInProcess(['images', '--user', USER_A, '--json'], env));
		expect(listed.images.map((image) => image.id).sort()).toEqual([...idsOfA].sort());
	});

	it("another user's image is NOT_FOUND (exit 1), and stays", async () => {
		const run = await runInProcess(['delete', '--user', USER_A, '--image', idOfB, '--json'], env);
		expect(run.code).toBe(1);
		expect(jsonOf(run)).toMatchObject({ ok: false, reason: 'NOT_FOUND' });
		await expectNothingTouched();
	});

	it('a user folder that is a symlink out of the root: delete, reset --storage and reconcile never follow it', async () => {
		const deleted = await runInProcess(['delete', '--user', USER_C, '--image', idOfC, '--json'], env);
		expect(deleted.code).toBe(1);
		expect(jsonOf(deleted)).toMatchObject({ ok: false, reason: 'NOT_FOUND' });
		const reset = await runInProcess(['reset', '--user', USER_C, '--storage', '--json'], env);
		expect(reset.code).toBe(0);
		expect(jsonOf(reset)).toMatchObject({ storage: { deleted: [] } });
		const reconcile = jsonOf<{ ignored: string[] }>(await runInProcess(['reconcile', '--json'], env));
		expect(reconcile.ignored).toContain(join(root, 'images', 'users', USER_C));
		await expectNothingTouched();
		// Not counted either: the ledger now holds the images of A and B only.
		const report = jsonOf<{ global: { files: number } }>(await runInProcess(['report', '--json'], env));
		expect(report.global.files).toBe(idsOfA.length + 1);
	});

	it('the real command too (spawned): traversal ids and absolute paths are refused with exit 2', async () => {
		const runs = await Promise.all([
			spawnCli(['delete', '--user', USER_A, '--image', '../../x', '--json'], env),
			spawnCli(['delete', '--user', USER_A, '--image', join(dir, 'canary.txt'), '--json'], env),
			spawnCli(['images', '--user', '../../x', '--json'], env),
			spawnCli(['images', '--user', join(dir, 'outside'), '--json'], env)
		]);
		for (const run of runs) {
			expect(run.code, run.stderr).toBe(2);
			expect(jsonOf(run)).toMatchObject({ ok: false, reason: 'INVALID_NAME' });
		}
		await expectNothingTouched();
	});

	it('and the legitimate delete still works afterwards', async () => {
		const run = await runInProcess(['delete', '--user', USER_A, '--image', idsOfA[0] as string, '--json'], env);
		expect(run.code).toBe(0);
		const after = await snapshot();
		for (const [key, hash] of before) {
			if (key.includes(idsOfA[0] as string)) expect(after.has(key)).toBe(false);
			else expect(after.get(key), key).toBe(hash);
		}
	});
});
