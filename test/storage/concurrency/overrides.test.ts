import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { TSX } from '../../cli/helpers.js';
import { openTestStorage } from '../../helpers/storageFixtures.js';

const WORKER = fileURLToPath(new URL('../../fixtures/overrideWorker.ts', import.meta.url));
const ROUNDS = 12;

interface Worker {
	child: ChildProcessWithoutNullStreams;
	next(): Promise<string>;
}

function startWorker(storageRoot: string, changes: Record<string, number>): Worker {
	const child = spawn(process.execPath, ['--import', TSX, WORKER, JSON.stringify({ storageRoot, changes })], { stdio: 'pipe' });
	const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
	let stderr = '';
	child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
	return {
		child,
		next: async () => {
			const line = await lines.next();
			if (line.done) throw new Error(`worker exited: ${stderr}`);
			return line.value;
		}
	};
}

let workers: Worker[] = [];
let close: (() => Promise<void>) | undefined;
afterEach(async () => {
	for (const worker of workers) worker.child.kill('SIGKILL');
	workers = [];
	await close?.();
	close = undefined;
});

describe('override changes from two processes at the same moment', () => {
	it(`both land, ${ROUNDS} rounds out of ${ROUNDS} (limits --daily 11 beside limits --storage-mb 201)`, { timeout: 60_000 }, async () => {
		const storage = await openTestStorage();
		close = storage.close;
		workers = [startWorker(storage.root, { dailyGens: 11 }), startWorker(storage.root, { storageMb: 201 })];
		for (const worker of workers) expect(await worker.next()).toBe('ready');
		const users = Array.from({ length: ROUNDS }, (_, index) => `9${String(index).padStart(17, '0')}`);
		for (const userId of users) {
			for (const worker of workers) worker.child.stdin.write(`go ${userId}\n`);
			for (const worker of workers) expect(await worker.next()).toBe(`done ${userId}`);
		}
		for (const worker of workers) worker.child.stdin.end();
		for (const userId of users) {
			const status = await storage.manager.getQuotaStatus(userId);
			expect({ user: userId, daily: status.daily.limit, storageMb: status.user.limitMb }).toEqual({
				user: userId,
				daily: 11,
				storageMb: 201
			});
		}
	});
});
