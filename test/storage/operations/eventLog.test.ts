import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EventLog } from '../../../src/plugins/storage/EventLog.js';
import { makeTempDir } from '../../helpers/storageFixtures.js';
import { mountTinyDisk, tinyDiskUnavailable, type TinyDisk } from '../../helpers/tinyDisk.js';

/** Every line of the log parses on its own: no half line, no two lines glued together. */
async function lines(path: string): Promise<Record<string, unknown>[]> {
	const text = await readFile(path, 'utf8').catch(() => '');
	if (text !== '') expect(text.endsWith('\n'), 'the log ends with a whole line').toBe(true);
	return text
		.split('\n')
		.filter((line) => line !== '')
		.map((line) => JSON.parse(line) as Record<string, unknown>);
}

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
	await cleanup?.();
	cleanup = undefined;
});

describe.skipIf(tinyDiskUnavailable)(
	`the event log on a full disk${tinyDiskUnavailable ? ` (skipped: ${tinyDiskUnavailable})` : ''}`,
	() => {
		let disk: TinyDisk;

		it('drops what does not fit without leaving half a line, and records again once space is back', async () => {
			disk = mountTinyDisk(256);
			cleanup = () => disk.unmount();
			const logsDir = join(disk.dir, 'logs');
			await mkdir(logsDir);
			const log = new EventLog(logsDir, Date.now);
			log.append({ type: 'save', userId: '123456789012345678', note: 'before the disk filled' });
			await log.close();

			const reopened = new EventLog(logsDir, Date.now);
			disk.fill(0);
			// Long lines, so a write cannot fit in what is left of the last page.
			for (let index = 0; index < 20; index++) reopened.append({ type: 'denial', index, padding: 'x'.repeat(3000) });
			await reopened.flush();
			await disk.free();
			reopened.append({ type: 'save', note: 'after space came back' });
			reopened.append({ type: 'delete', note: 'and the next one' });
			await reopened.close();

			const recorded = await lines(join(logsDir, 'events.jsonl'));
			expect(recorded[0]).toMatchObject({ type: 'save', note: 'before the disk filled' });
			const dropped = recorded.find((line) => line.type === 'log');
			expect(dropped, 'a line says how many events were dropped').toMatchObject({ type: 'log' });
			expect(Number(dropped?.dropped)).toBeGreaterThan(0);
			expect(recorded.slice(-2)).toMatchObject([
				{ type: 'save', note: 'after space came back' },
				{ type: 'delete', note: 'and the next one' }
			]);
		});
	}
);

describe('the event log size', () => {
	it('is rotated past its cap and never grows beyond it times the files kept', async () => {
		const temp = await makeTempDir();
		cleanup = temp.cleanup;
		const log = new EventLog(temp.dir, Date.now, { maxBytes: 10_000, keep: 2 });
		for (let index = 0; index < 500; index++) log.append({ type: 'save', index, padding: 'y'.repeat(100) });
		await log.close();
		const files = (await readdir(temp.dir)).sort();
		expect(files).toEqual(['events.1.jsonl', 'events.2.jsonl', 'events.jsonl']);
		for (const file of files) {
			expect((await stat(join(temp.dir, file))).size).toBeLessThanOrEqual(10_000);
			await lines(join(temp.dir, file));
		}
		// The newest events are in events.jsonl, in order.
		const newest = await lines(join(temp.dir, 'events.jsonl'));
		expect(newest.at(-1)).toMatchObject({ index: 499 });
	});

	it('a second process writing to the same log after a rotation writes to the new file', async () => {
		const temp = await makeTempDir();
		cleanup = temp.cleanup;
		const first = new EventLog(temp.dir, Date.now, { maxBytes: 2000, keep: 1 });
		const second = new EventLog(temp.dir, Date.now, { maxBytes: 2000, keep: 1 });
		second.append({ type: 'save', from: 'second', index: -1 });
		for (let index = 0; index < 30; index++) first.append({ type: 'save', from: 'first', index, padding: 'z'.repeat(100) });
		await first.close();
		second.append({ type: 'save', from: 'second', index: 0 });
		await second.close();
		const current = await lines(join(temp.dir, 'events.jsonl'));
		expect(current.at(-1)).toMatchObject({ from: 'second', index: 0 });
	});
});
