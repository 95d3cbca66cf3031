import {
	CreateBucketCommand,
	DeleteObjectCommand,
	GetObjectCommand,
	HeadObjectCommand,
	ListObjectsV2Command,
	PutObjectCommand,
	S3Client
} from '@aws-sdk/client-s3';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { StorageOptions } from '../../src/plugins/storage/options.js';
import { IDENTITY_NAME, newStoreId, serializeIdentity } from '../../src/plugins/storage/images/records.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const main = fileURLToPath(new URL('./s3/s3rverMain.ts', import.meta.url));
/** s3rver's only account. */
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
let bucketCount = 0;

export interface BucketOptions {
	/**
	 * Seed the store's identity marker under `prefix` (default true), as a store that was used before has it. Creating
	 * it costs a new store on s3rver a settling wait (s3rver ignores If-None-Match); tests of that pass false.
	 */
	identity?: boolean;
	prefix?: string;
}

/**
 * A real S3-compatible server on 127.0.0.1 for tests and benchmarks: s3rver 3 in a child process, its objects in a
 * temp folder, path-style addressing, s3rver's fixed credentials. Each test takes a fresh bucket. Several processes
 * (the storage in child processes, on "several hosts") share one server through `env()`.
 *
 * ```ts
 * const s3 = await S3TestServer.start();
 * const bucket = await s3.createBucket();
 * const manager = await StorageManager.open({ storageRoot, ...s3.storageOptions(bucket) });
 * await s3.stop(); // an outage: requests fail until s3.restart()
 * await s3.close(); // the process gone, the folder removed
 * ```
 */
export class S3TestServer {
	public readonly region = 'us-east-1';
	public readonly credentials = CREDENTIALS;
	/** s3rver's folder: `<directory>/<bucket>/<key>._S3rver_object` holds each object. */
	public readonly directory: string;
	public readonly client: S3Client;
	#port: number;
	#child: ChildProcess | null;

	private constructor(directory: string, port: number, child: ChildProcess) {
		this.directory = directory;
		this.#port = port;
		this.#child = child;
		this.client = new S3Client({ endpoint: this.endpoint, region: this.region, forcePathStyle: true, credentials: { ...CREDENTIALS } });
	}

	public static async start(): Promise<S3TestServer> {
		const directory = await mkdtemp(join(tmpdir(), 'imagine-s3rver-'));
		const { child, port } = await launch(directory, 0);
		return new S3TestServer(directory, port, child);
	}

	public get endpoint(): string {
		return `http://127.0.0.1:${this.#port}`;
	}

	public get port(): number {
		return this.#port;
	}

	/** A new, empty bucket with a unique name. */
	public async createBucket(options: BucketOptions = {}): Promise<string> {
		const bucket = `imagine-${process.pid}-${++bucketCount}-${Math.random().toString(36).slice(2, 8)}`;
		await this.client.send(new CreateBucketCommand({ Bucket: bucket }));
		if (options.identity ?? true) {
			// Made an hour ago, as a marker is trusted at once only once no concurrent creator can replace it.
			const key = keyOf(options.prefix ?? 'imagine', IDENTITY_NAME);
			await this.putObject(bucket, key, serializeIdentity(newStoreId(), new Date(Date.now() - 3_600_000)));
			await this.backdate(bucket, key, 3_600_000);
		}
		return bucket;
	}

	/** The storage plugin's options for `bucket` (prefix `imagine` by default). */
	public storageOptions(bucket: string, prefix = 'imagine'): Pick<StorageOptions, 'storageUri' | 's3'> {
		return {
			storageUri: `s3://${bucket}/${prefix}`,
			s3: { endpoint: this.endpoint, region: this.region, forcePathStyle: true, credentials: { ...CREDENTIALS } }
		};
	}

	/** The same as environment variables, for the bot or the command-line tool in another process. */
	public env(bucket: string, prefix = 'imagine'): Record<string, string> {
		return {
			STORAGE_URI: `s3://${bucket}/${prefix}`,
			S3_ENDPOINT: this.endpoint,
			S3_REGION: this.region,
			S3_FORCE_PATH_STYLE: 'true',
			AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
			AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
			// Never ask an instance-metadata address for credentials: tests reach loopback only.
			AWS_EC2_METADATA_DISABLED: 'true'
		};
	}

	/** Every key in the bucket (under `prefix` when given), sorted. */
	public async keys(bucket: string, prefix = ''): Promise<string[]> {
		const keys: string[] = [];
		let token: string | undefined;
		do {
			const page = await this.client.send(
				new ListObjectsV2Command({ Bucket: bucket, ...(prefix ? { Prefix: prefix } : {}), ...(token ? { ContinuationToken: token } : {}) })
			);
			keys.push(...(page.Contents ?? []).map((object) => object.Key as string));
			token = page.IsTruncated ? page.NextContinuationToken : undefined;
		} while (token);
		return keys.sort();
	}

	public async putObject(bucket: string, key: string, body: Uint8Array | string, metadata: Record<string, string> = {}): Promise<void> {
		await this.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, Metadata: metadata }));
	}

	public async deleteObject(bucket: string, key: string): Promise<void> {
		await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
	}

	/** The object's bytes, or null when it is not there. */
	public async getObject(bucket: string, key: string): Promise<Buffer | null> {
		try {
			const response = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
			return Buffer.from(await (response.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
		} catch (error) {
			if ((error as { name?: string }).name === 'NoSuchKey') return null;
			throw error;
		}
	}

	/** The object's user metadata (`x-amz-meta-*`). */
	public async metadataOf(bucket: string, key: string): Promise<Record<string, string>> {
		return (await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).Metadata ?? {};
	}

	/** Makes an object `ageMs` old: s3rver answers LastModified from its file's modification time. */
	public async backdate(bucket: string, key: string, ageMs: number): Promise<void> {
		const when = new Date(Date.now() - ageMs);
		await utimes(join(this.directory, bucket, ...`${key}._S3rver_object`.split('/')), when, when);
	}

	/** Stops the server (an outage); its objects stay. */
	public async stop(): Promise<void> {
		const child = this.#child;
		this.#child = null;
		if (!child || child.exitCode !== null) return;
		const exited = new Promise((resolve) => child.once('exit', resolve));
		child.kill('SIGTERM');
		await exited;
	}

	/** Starts it again on the same port, with the same objects. */
	public async restart(): Promise<void> {
		await this.stop();
		this.#child = (await launch(this.directory, this.#port)).child;
	}

	/** Stops the server and removes its folder. */
	public async close(): Promise<void> {
		await this.stop();
		this.client.destroy();
		await rm(this.directory, { recursive: true, force: true });
	}
}

function keyOf(prefix: string, relative: string): string {
	return prefix ? `${prefix}/${relative}` : relative;
}

async function launch(directory: string, port: number): Promise<{ child: ChildProcess; port: number }> {
	const child = spawn(process.execPath, ['--openssl-legacy-provider', '--import', 'tsx', main, directory, String(port)], {
		cwd: repoRoot,
		stdio: ['pipe', 'pipe', 'inherit']
	});
	const lines = createInterface({ input: child.stdout as NonNullable<typeof child.stdout> });
	const listening = await new Promise<number>((resolve, reject) => {
		child.once('exit', (code) => reject(new Error(`s3rver exited with code ${code} before listening`)));
		lines.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
	});
	lines.close();
	return { child, port: listening };
}
