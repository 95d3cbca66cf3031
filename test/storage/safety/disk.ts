import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * What is on disk under `dir`, without following symlinks: relative path -> kind and content. Two snapshots
 * compare equal when nothing was created, removed or changed. `skip` leaves out top-level entries (the storage root).
 */
export async function snapshotTree(dir: string, skip: readonly string[] = []): Promise<Record<string, string>> {
	const result: Record<string, string> = {};
	async function walk(current: string, prefix: string): Promise<void> {
		for (const entry of await readdir(current, { withFileTypes: true })) {
			const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
			if (!prefix && skip.includes(entry.name)) continue;
			const path = join(current, entry.name);
			if (entry.isSymbolicLink()) result[relative] = `link -> ${await readlink(path)}`;
			else if (entry.isDirectory()) {
				result[relative] = 'dir';
				await walk(path, relative);
			} else if (entry.isFile()) result[relative] = `file ${(await readFile(path)).toString('base64')}`;
			else result[relative] = 'other';
		}
	}
	await walk(dir, '');
	return result;
}

/** Relative paths of every entry under `dir` (symlinks not followed); [] when `dir` does not exist. */
export async function listTree(dir: string): Promise<string[]> {
	try {
		await lstat(dir);
	} catch {
		return [];
	}
	return Object.keys(await snapshotTree(dir)).sort();
}

/** Hidden leftovers of interrupted writes anywhere under `dir`. */
export async function partialFiles(dir: string): Promise<string[]> {
	return (await listTree(dir)).filter((path) => path.includes('.partial-'));
}

export async function exists(path: string): Promise<boolean> {
	try {
		await lstat(path);
		return true;
	} catch {
		return false;
	}
}
