import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/lib/config.js';
import { resolveStorageOptions } from '../../../src/plugins/storage/options.js';
import { StorageConfigError } from '../../../src/plugins/storage/StorageConfigError.js';
import { StorageManager } from '../../../src/plugins/storage/StorageManager.js';
import { CLI, jsonOf, REPO, spawnCli } from '../../cli/helpers.js';
import { S3TestServer } from '../../helpers/s3Server.js';
import { makeTempDir, pngBytes, USER_A } from '../../helpers/storageFixtures.js';

/**
 * Choosing the S3 store, and every way of choosing it wrongly: a clear error naming the variable (or the option),
 * never a credential, and nothing lost or half-created.
 */

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const KEY_ID = 'AKIAIOSFODNN7EXAMPLE';

let s3: S3TestServer;
let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
	s3 = await S3TestServer.start();
});
afterAll(async () => {
	await s3.close();
});
afterEach(async () => {
	await cleanup?.();
});

async function tempRoot(): Promise<string> {
	const temp = await makeTempDir();
	cleanup = temp.cleanup;
	dir = temp.dir;
	return join(temp.dir, 'root');
}

function problemsOf(env: NodeJS.ProcessEnv): readonly string[] {
	try {
		loadConfig({ STORAGE_ROOT: join(dir, 'root'), ...env });
	} catch (error) {
		if (error instanceof ConfigError) return error.problems;
		throw error;
	}
	throw new Error('expected a configuration error');
}

async function openError(options: Parameters<typeof StorageManager.open>[0]): Promise<StorageConfigError> {
	try {
		const manager = await StorageManager.open(options);
		await manager.close();
	} catch (error) {
		expect(error).toBeInstanceOf(StorageConfigError);
		return error as StorageConfigError;
	}
	throw new Error('expected the storage to refuse to open');
}

describe('the variables', () => {
	it('select the S3 store, with credentials from the same environment, masked as secrets', async () => {
		await tempRoot();
		const config = loadConfig({
			STORAGE_ROOT: join(dir, 'root'),
			STORAGE_URI: ' s3://my-bucket/bots/imagine/ ',
			S3_ENDPOINT: 'http://127.0.0.1:9000',
			S3_REGION: 'Auto',
			S3_FORCE_PATH_STYLE: 'TRUE',
			AWS_ACCESS_KEY_ID: KEY_ID,
			AWS_SECRET_ACCESS_KEY: SECRET,
			AWS_SESSION_TOKEN: 'session-token-value',
			AWS_REQUEST_CHECKSUM_CALCULATION: 'when_required',
			AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED'
		});
		expect(config.storage).toMatchObject({
			storageUri: 's3://my-bucket/bots/imagine/',
			s3: {
				endpoint: 'http://127.0.0.1:9000',
				region: 'auto',
				forcePathStyle: true,
				credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET, sessionToken: 'session-token-value' },
				requestChecksumCalculation: 'WHEN_REQUIRED',
				responseChecksumValidation: 'WHEN_REQUIRED'
			}
		});
		expect(config.secrets).toEqual(expect.arrayContaining([KEY_ID, SECRET, 'session-token-value']));
		// STORAGE_ROOT holds local things only: no image folder is made there.
		expect(existsSync(join(dir, 'root', 'images'))).toBe(false);
	});

	it('leave AWS credentials of the environment alone when images stay on the local disk', async () => {
		await tempRoot();
		const config = loadConfig({ STORAGE_ROOT: join(dir, 'root'), AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET });
		expect(config.storage.storageUri).toBeUndefined();
		expect(config.storage.s3).toBeUndefined();
		expect(config.secrets).toEqual(expect.arrayContaining([KEY_ID, SECRET]));
	});

	it.each([
		['STORAGE_URI', 'https://my-bucket.s3.amazonaws.com/imagine', /^- STORAGE_URI: expected s3:\/\/bucket\/prefix/],
		['STORAGE_URI', 's3://', /^- STORAGE_URI: expected a bucket name/],
		['STORAGE_URI', 's3:///imagine', /^- STORAGE_URI: expected a bucket name/],
		['STORAGE_URI', 's3://my-bucket/imagine/../other', /^- STORAGE_URI: expected a prefix of plain folder names/],
		['STORAGE_URI', 's3://my-bucket//imagine', /^- STORAGE_URI: expected a prefix of plain folder names/],
		['S3_ENDPOINT', '127.0.0.1:9000', /^- S3_ENDPOINT: expected a full http\(s\) URL such as http:\/\/127\.0\.0\.1:9000/],
		['S3_ENDPOINT', 'ftp://files.example.com', /^- S3_ENDPOINT: expected a full http\(s\) URL/],
		['S3_FORCE_PATH_STYLE', 'yes', /^- S3_FORCE_PATH_STYLE: expected true or false \(got "yes"\)/],
		['S3_REGION', 'us east 1', /^- S3_REGION: expected a region name such as us-east-1/],
		['AWS_REQUEST_CHECKSUM_CALCULATION', 'sometimes', /^- AWS_REQUEST_CHECKSUM_CALCULATION: expected WHEN_SUPPORTED or WHEN_REQUIRED/],
		['AWS_RESPONSE_CHECKSUM_VALIDATION', 'never', /^- AWS_RESPONSE_CHECKSUM_VALIDATION: expected WHEN_SUPPORTED or WHEN_REQUIRED/]
	])('%s=%j is refused, naming the variable', async (name, value, expected) => {
		await tempRoot();
		const env = { STORAGE_URI: 's3://my-bucket/imagine', [name]: value };
		expect(problemsOf(env)).toEqual([expect.stringMatching(expected)]);
	});

	it('an endpoint with a password in it is refused without showing the password', async () => {
		await tempRoot();
		const problems = problemsOf({ STORAGE_URI: 's3://my-bucket/imagine', S3_ENDPOINT: `http://minio:${SECRET}@127.0.0.1:9000` });
		expect(problems).toEqual([
			expect.stringMatching(/^- S3_ENDPOINT: expected a full http\(s\) URL .* \(got "http:\/\/minio:\*\*\*@127\.0\.0\.1:9000"\)/)
		]);
		expect(problems.join('\n')).not.toContain(SECRET);
	});

	it('S3 settings without STORAGE_URI are refused rather than silently keeping images on the local disk', async () => {
		await tempRoot();
		expect(problemsOf({ S3_ENDPOINT: 'http://127.0.0.1:9000' })).toEqual([
			expect.stringMatching(/^- S3_ENDPOINT: is used only with images in a bucket: set storageUri \(STORAGE_URI\)/)
		]);
	});

	it('plugin options name the field and never echo a credential', () => {
		expect(() =>
			resolveStorageOptions({ storageUri: 's3://my-bucket', s3: { credentials: { accessKeyId: KEY_ID, secretAccessKey: '' } } })
		).toThrowError(/s3\.credentials\.secretAccessKey: .* \(got a value of 0 characters\)/);
		let message = '';
		try {
			resolveStorageOptions({
				storageUri: 's3://my-bucket',
				s3: { credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET, extra: 1 } as never }
			});
		} catch (error) {
			message = (error as Error).message;
		}
		expect(message).toMatch(/s3\.credentials/);
		expect(message).not.toContain(SECRET);
		expect(message).not.toContain(KEY_ID);
	});
});

describe('a store that cannot be used stops the start with what to fix (a configuration error)', () => {
	it('a bucket that does not exist', async () => {
		const root = await tempRoot();
		const error = await openError({ storageRoot: root, ...s3.storageOptions('no-such-bucket') });
		expect(error.message).toMatch(
			/The bucket "no-such-bucket" does not exist at http:\/\/127\.0\.0\.1:\d+: create it, or correct STORAGE_URI/
		);
		expect(await readdir(dir)).toEqual(['root']);
	});

	it('wrong credentials: named by their variables, their values never shown', async () => {
		const root = await tempRoot();
		const bucket = await s3.createBucket();
		const options = s3.storageOptions(bucket);
		const error = await openError({
			storageRoot: root,
			...options,
			s3: { ...options.s3, credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET } }
		});
		expect(error.message).toMatch(/refused the credentials .* check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \(or s3\.credentials\)/);
		expect(error.message).not.toContain(SECRET);
		expect(error.message).not.toContain(KEY_ID);
	});

	it('an endpoint nothing listens on', async () => {
		const root = await tempRoot();
		const closed = await S3TestServer.start();
		const endpoint = closed.endpoint;
		await closed.close();
		const options = s3.storageOptions('any-bucket');
		const error = await openError({ storageRoot: root, ...options, s3: { ...options.s3, endpoint } });
		expect(error.message).toMatch(/The S3 endpoint cannot be reached \(ECONNREFUSED\) at http:\/\/127\.0\.0\.1:\d+: check S3_ENDPOINT/);
	});

	it('the command-line tool says so as a configuration error, exit code 2, without the secret', async () => {
		const root = await tempRoot();
		const run = await spawnCli(['report', '--json'], {
			...s3.env('no-such-bucket'),
			STORAGE_ROOT: root,
			IMAGE_PROVIDER: 'preview',
			AWS_SECRET_ACCESS_KEY: 'S3RVER'
		});
		expect(run.code).toBe(2);
		expect(jsonOf(run)).toMatchObject({ ok: false, reason: 'CONFIG', message: expect.stringContaining('"no-such-bucket" does not exist') });
		expect(run.stdout + run.stderr).not.toContain('S3RVER');
	});
});

describe('a bot without the AWS SDK', () => {
	it('is told to install it when STORAGE_URI names a bucket (configuration error, exit code 2)', { timeout: 60_000 }, async () => {
		const root = await tempRoot();
		const hide = fileURLToPath(new URL('../../fixtures/withoutAwsSdk.js', import.meta.url));
		const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
			const child = spawn(process.execPath, ['--import', 'tsx', '--import', hide, CLI, 'report', '--json'], {
				cwd: REPO,
				env: { PATH: process.env.PATH, HOME: process.env.HOME, ...s3.env('any-bucket'), STORAGE_ROOT: root, IMAGE_PROVIDER: 'preview' }
			});
			let out = '';
			child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
			child.on('close', (exitCode) => resolve({ code: exitCode, stdout: out }));
		});
		expect(code).toBe(2);
		expect(JSON.parse(stdout)).toMatchObject({
			ok: false,
			reason: 'CONFIG',
			message: expect.stringContaining("the AWS SDK's S3 client is not installed: add it to the bot (npm install @aws-sdk/client-s3)")
		});
	});
});

describe('the command-line tool on a bucket', () => {
	it('generates, lists and reconciles through the S3 variables; STORAGE_ROOT gets no image', { timeout: 60_000 }, async () => {
		const root = await tempRoot();
		const bucket = await s3.createBucket();
		const env = { ...s3.env(bucket), STORAGE_ROOT: root, IMAGE_PROVIDER: 'preview', CLEANUP_INTERVAL_MINUTES: '0' };
		const generated = await spawnCli(['generate', '--user', USER_A, '--prompt', 'a lighthouse', '--json'], env);
		expect(generated.code).toBe(0);
		const image = jsonOf<{ image: { id: string; path: string } }>(generated).image;
		expect(image.path).toBe(`s3://${bucket}/imagine/images/users/${USER_A}/${image.id}.png`);
		expect(await s3.keys(bucket)).toEqual(
			[`imagine/.imagine-store`, `imagine/images/users/${USER_A}/${image.id}.json`, `imagine/images/users/${USER_A}/${image.id}.png`].sort()
		);
		const listed = await spawnCli(['images', '--user', USER_A, '--json'], env);
		expect(jsonOf<{ images: { id: string }[] }>(listed).images.map((entry) => entry.id)).toEqual([image.id]);
		const reconciled = await spawnCli(['reconcile', '--json'], env);
		expect(jsonOf(reconciled)).toMatchObject({ added: 0, removed: 0, orphansRemoved: 0, files: 1 });
		// STORAGE_ROOT holds the logs and the SQLite ledger, nothing else.
		for (const name of await readdir(root)) expect(['logs', 'quota.sqlite', 'quota.sqlite-shm', 'quota.sqlite-wal']).toContain(name);
		// The bytes really are in the bucket.
		expect((await s3.getObject(bucket, `imagine/images/users/${USER_A}/${image.id}.png`))?.subarray(0, 8)).toEqual(pngBytes(8));
	});
});
