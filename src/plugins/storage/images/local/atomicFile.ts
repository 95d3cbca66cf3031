import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { partialFileName } from '../records.js';

/**
 * Crash-safe writes: bytes go to a hidden partial file, are fsynced, and only then renamed onto the
 * final name (rename is atomic on one file system). A crash at any instant leaves either no file or
 * the whole file under the final name, plus at worst a hidden partial that reconcile removes.
 */
export interface PartialFile {
	readonly partialPath: string;
	readonly finalPath: string;
}

/**
 * `writer` (the writing process's tag) is part of the partial's name: reconcile can tell a dead process's leftover
 * from a write in progress.
 */
export async function writePartial(finalPath: string, data: Uint8Array | string, writer: string): Promise<PartialFile> {
	const partialPath = join(dirname(finalPath), partialFileName(basename(finalPath), writer));
	// 'wx': never follow or overwrite something already there under this random name.
	const handle = await open(partialPath, 'wx', 0o644);
	try {
		await handle.writeFile(data);
		await handle.sync();
	} catch (error) {
		await handle.close().catch(() => undefined);
		await rm(partialPath, { force: true });
		throw error;
	}
	await handle.close();
	return { partialPath, finalPath };
}

export async function publish(file: PartialFile): Promise<void> {
	await rename(file.partialPath, file.finalPath);
}

export async function discard(file: PartialFile): Promise<void> {
	await rm(file.partialPath, { force: true });
}

/** Makes renames and unlinks in a directory durable (its entry list is flushed). */
export async function syncDirectory(directory: string): Promise<void> {
	const handle = await open(directory, 'r');
	try {
		await handle.sync();
	} finally {
		await handle.close();
	}
}
