import { statfs } from 'node:fs/promises';

/** Below this many free bytes a file system is full for our purposes (SQLite needs pages for its WAL and shm). */
const FULL_BELOW_BYTES = 256 * 1024;

/** Bytes a non-root process may still write on the file system holding `path`; null when it cannot be told. */
export async function freeBytes(path: string): Promise<number | null> {
	try {
		const stats = await statfs(path);
		return stats.bavail * stats.bsize;
	} catch {
		return null;
	}
}

/**
 * Whether `error` is a full disk. SQLite reports one as SQLITE_FULL, or only as a generic SQLITE_IOERR when it
 * cannot create its shared-memory file: the free space on the disk tells which.
 */
export async function isDiskFull(error: unknown, path: string): Promise<boolean> {
	const code = (error as { code?: unknown } | null)?.code;
	if (code === 'ENOSPC' || code === 'SQLITE_FULL' || code === 'EDQUOT') return true;
	if (code !== 'SQLITE_IOERR' && code !== 'SQLITE_CANTOPEN') return false;
	const free = await freeBytes(path);
	return free !== null && free < FULL_BELOW_BYTES;
}
