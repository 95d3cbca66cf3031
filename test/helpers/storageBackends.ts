import { mkdir, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { IDENTITY_NAME } from '../../src/plugins/storage/images/records.js';
import type { StorageOptions } from '../../src/plugins/storage/options.js';
import { StorageManager, type StorageManagerDependencies } from '../../src/plugins/storage/StorageManager.js';
import { S3TestServer } from './s3Server.js';
import { makeTempDir } from './storageFixtures.js';

/**
 * The storage behaviour suites run once per image store: the local disk and an S3-compatible bucket (s3rver on
 * loopback). A test sees the store through `StoreView`, by the relative paths of records.ts's layout
 * (`images/users/<userId>/<imageId>.png`), so one assertion holds for a folder and for a bucket.
 */
export type BackendName = 'local' | 's3';

export interface StoreView {
	/** Every file or object of the layout (images/ and temp/), by relative path, sorted; the identity marker left out. */
	list(): Promise<string[]>;
	read(relative: string): Promise<Buffer | null>;
	/** Writes straight into the store, as a crashed save, a restored backup or an operator leaves it. */
	write(relative: string, data: Uint8Array | string, options?: { writer?: string }): Promise<void>;
	remove(relative: string): Promise<void>;
	/** Makes a file or object `ageMs` old. */
	backdate(relative: string, ageMs: number): Promise<void>;
	/** What a StoredImage's `path` is for this relative path: a file path, or an s3:// address. */
	address(relative: string): string;
}

export interface BackendStorage {
	backend: Backend;
	manager: StorageManager;
	/** STORAGE_ROOT: logs and the SQLite ledger (and the images, on the local disk). */
	root: string;
	/** The temp folder holding `root`, for canaries beside it. */
	dir: string;
	store: StoreView;
	/** The bucket of the s3 backend (null on the local disk); the store is under its `imagine/` prefix. */
	bucket: string | null;
	/** Opens another manager on the same store and ledger (another process would do the same). */
	reopen(more?: StorageOptions, deps?: StorageManagerDependencies): Promise<StorageManager>;
	/** Closes whichever manager `manager` holds now, then removes the folder. */
	close(): Promise<void>;
}

export interface Backend {
	name: BackendName;
	/** Object storage: an upload is visible (to reconcile) before its commit. */
	visibleBeforeCommit: boolean;
	/** The S3 server of the s3 backend (null on the local disk). */
	s3: S3TestServer | null;
	open(options?: StorageOptions, dependencies?: StorageManagerDependencies): Promise<BackendStorage>;
}

const PREFIX = 'imagine';

/**
 * `describe` once per backend, the s3 one with its own server for the file's tests (a fresh bucket per `open`).
 * `body` gets the backend for the tests it declares.
 */
export function describeEachBackend(title: string, body: (backend: Backend) => void): void {
	describeBackends(['local', 's3'], title, body);
}

/** `describe` for the backends named: `describeBackends(['s3'], ...)` for what only a bucket has. */
export function describeBackends(names: readonly BackendName[], title: string, body: (backend: Backend) => void): void {
	for (const name of names) {
		describe(`${title} [${name}]`, () => {
			let server: S3TestServer | null = null;
			if (name === 's3') {
				beforeAll(async () => {
					server = await S3TestServer.start();
				});
				afterAll(async () => {
					await server?.close();
				});
			}
			body({
				name,
				visibleBeforeCommit: name === 's3',
				get s3() {
					return server;
				},
				open(options = {}, dependencies = {}) {
					return name === 's3' ? openOnS3(this, server as S3TestServer, options, dependencies) : openOnDisk(this, options, dependencies);
				}
			});
		});
	}
}

async function openOnDisk(backend: Backend, options: StorageOptions, dependencies: StorageManagerDependencies): Promise<BackendStorage> {
	const temp = await makeTempDir();
	const root = join(temp.dir, 'root');
	const base: StorageOptions = { storageRoot: root, cleanupIntervalMinutes: 0, ...options };
	const resolve = (relative: string) => join(root, ...relative.split('/'));
	const store: StoreView = {
		// Hidden partial files of writes in progress are the local disk's own business, not part of the layout.
		list: async () =>
			[...(await walk(root, 'images')), ...(await walk(root, 'temp'))]
				.filter((relative) => !relative.split('/').at(-1)?.startsWith('.'))
				.sort(),
		read: (relative) => readFile(resolve(relative)).catch(() => null),
		write: async (relative, data) => {
			await mkdir(dirname(resolve(relative)), { recursive: true });
			await writeFile(resolve(relative), data);
		},
		remove: (relative) => rm(resolve(relative), { force: true }),
		backdate: async (relative, ageMs) => {
			const when = new Date(Date.now() - ageMs);
			await utimes(resolve(relative), when, when);
		},
		address: resolve
	};
	return fixture(backend, base, dependencies, root, temp, store, null);
}

async function openOnS3(
	backend: Backend,
	s3: S3TestServer,
	options: StorageOptions,
	dependencies: StorageManagerDependencies
): Promise<BackendStorage> {
	const temp = await makeTempDir();
	const root = join(temp.dir, 'root');
	const bucket = await s3.createBucket({ prefix: PREFIX });
	const base: StorageOptions = { storageRoot: root, cleanupIntervalMinutes: 0, ...s3.storageOptions(bucket, PREFIX), ...options };
	const key = (relative: string) => `${PREFIX}/${relative}`;
	const store: StoreView = {
		list: async () =>
			(await s3.keys(bucket, `${PREFIX}/`)).map((full) => full.slice(PREFIX.length + 1)).filter((relative) => relative !== IDENTITY_NAME),
		read: (relative) => s3.getObject(bucket, key(relative)),
		write: (relative, data, written = {}) =>
			s3.putObject(bucket, key(relative), data, written.writer ? { 'imagine-writer': written.writer } : {}),
		remove: (relative) => s3.deleteObject(bucket, key(relative)),
		backdate: (relative, ageMs) => s3.backdate(bucket, key(relative), ageMs),
		address: (relative) => `s3://${bucket}/${key(relative)}`
	};
	return fixture(backend, base, dependencies, root, temp, store, bucket);
}

async function fixture(
	backend: Backend,
	base: StorageOptions,
	dependencies: StorageManagerDependencies,
	root: string,
	temp: { dir: string; cleanup: () => Promise<void> },
	store: StoreView,
	bucket: string | null
): Promise<BackendStorage> {
	const manager = await StorageManager.open(base, dependencies);
	const storage: BackendStorage = {
		backend,
		manager,
		root,
		dir: temp.dir,
		store,
		bucket,
		reopen: (more = {}, deps = dependencies) => StorageManager.open({ ...base, ...more }, deps),
		close: async () => {
			await storage.manager.close();
			await temp.cleanup();
		}
	};
	return storage;
}

/** Relative paths of the files under `<root>/<folder>`, forward slashes. */
async function walk(root: string, folder: string): Promise<string[]> {
	let entries;
	try {
		entries = await readdir(join(root, folder), { withFileTypes: true, recursive: true });
	} catch {
		return [];
	}
	return entries
		.filter((entry) => entry.isFile())
		.map(
			(entry) =>
				`${join(entry.parentPath, entry.name)
					.slice(root.length + 1)
					.split('\\')
					.join('/')}`
		);
}
