import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real, tiny file system (tmpfs) to run out of space on purpose: what a full disk does is only known by filling
 * one. Mounting needs root (as on this project's machines and CI); elsewhere `tinyDiskUnavailable` says why and
 * the tests that need one are skipped with that reason.
 */
export const tinyDiskUnavailable: string | null = (() => {
	const probe = mkdtempSync(join(tmpdir(), 'imagine-tmpfs-probe-'));
	try {
		execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'pipe' });
		execFileSync('umount', [probe], { stdio: 'pipe' });
		return null;
	} catch (error) {
		return `cannot mount a tmpfs here (${(error as Error).message.split('\n')[0]}): disk-full tests need root`;
	} finally {
		rmSync(probe, { recursive: true, force: true });
	}
})();

export interface TinyDisk {
	dir: string;
	/** Fills the disk until a write fails, leaving at most `leaveBytes` free. */
	fill(leaveBytes?: number): void;
	/** Frees what `fill` took. */
	free(): Promise<void>;
	unmount(): Promise<void>;
}

export function mountTinyDisk(sizeKb: number): TinyDisk {
	const dir = mkdtempSync(join(tmpdir(), 'imagine-tmpfs-'));
	execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k`, 'tmpfs', dir]);
	const fillers: string[] = [];
	return {
		dir,
		fill: (leaveBytes = 0) => {
			// Big chunks first, then smaller ones, until not even `leaveBytes + 1` fits.
			for (let chunk = 1 << 20; chunk > leaveBytes && chunk >= 1; chunk = Math.floor(chunk / 2)) {
				for (;;) {
					const path = join(dir, `.filler-${fillers.length}`);
					try {
						writeFileSync(path, Buffer.alloc(chunk, 1), { flag: 'wx' });
						fillers.push(path);
					} catch {
						rmSync(path, { force: true });
						break;
					}
				}
			}
		},
		free: async () => {
			for (const path of fillers.splice(0)) await rm(path, { force: true });
		},
		unmount: async () => {
			execFileSync('umount', ['-l', dir]);
			rmSync(dir, { recursive: true, force: true });
		}
	};
}
