import { lstat, mkdir, realpath } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';

/**
 * Containment for the local image store: every directory it touches must, after symlinks are followed, be the
 * storage root or lie inside it. A user folder replaced by a link to /etc is refused here.
 */
export class PathEscapeError extends Error {
	public constructor(path: string) {
		super(`Refusing a path outside the storage root: ${path}`);
		this.name = 'PathEscapeError';
	}
}

export class StoragePaths {
	public readonly root: string;
	#realRoot: string | null = null;

	public constructor(root: string) {
		this.root = root;
	}

	/** `relative` (forward slashes, from records.ts) under the root. */
	public resolve(relative: string): string {
		return join(this.root, ...relative.split('/'));
	}

	/** Creates the given folders and remembers the root's real path for containment checks. */
	public async prepare(folders: readonly string[]): Promise<void> {
		for (const folder of folders) await mkdir(this.resolve(folder), { recursive: true });
		this.#realRoot = await realpath(this.root);
	}

	/**
	 * Creates (if asked) and checks a directory: after following symlinks it must be the root or lie
	 * inside it. A user folder replaced by a link to /etc is refused here.
	 */
	public async ensureInside(directory: string, create: boolean): Promise<string> {
		if (create) {
			// Check the parent before creating anything: through a linked parent, even a refused save would
			// create a folder outside the root. The parents (images/users, temp) exist since prepare().
			await this.ensureInside(dirname(directory), false);
			await mkdir(directory).catch((error: NodeJS.ErrnoException) => {
				if (error.code !== 'EEXIST') throw error;
			});
		}
		const real = await realpath(directory);
		const root = this.#realRoot ?? (this.#realRoot = await realpath(this.root));
		if (real !== root && !real.startsWith(root + sep)) throw new PathEscapeError(directory);
		return real;
	}

	/** True when the path is a regular file (not a symlink) inside the root. */
	public async isContainedRegularFile(path: string, directory: string): Promise<boolean> {
		try {
			await this.ensureInside(directory, false);
			const stats = await lstat(path);
			return stats.isFile();
		} catch {
			return false;
		}
	}
}
