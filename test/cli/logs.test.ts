import { afterAll, describe, expect, it } from 'vitest';
import { USER_A } from '../helpers/storageFixtures.js';
import { cliEnv, jsonOf, newTempDir, removeTempDirs, runInProcess } from './helpers.js';

/* The command's logs on stderr follow the bot's rule: readable on a terminal, JSON lines otherwise, LOG_FORMAT wins. */

afterAll(removeTempDirs);

const status = ['status', '--user', USER_A, '--json'];

describe('sapphire-imagine logs on stderr', () => {
	it('on a terminal: readable lines; stdout keeps its one JSON object', async () => {
		const { root } = await newTempDir();
		const run = await runInProcess(status, cliEnv(root, { LOG_LEVEL: 'info' }), { isTTY: true });
		expect(run.code, run.stderr).toBe(0);
		expect(jsonOf(run)).toMatchObject({ daily: { used: 0 } });
		// eslint-disable-next-line no-control-regex -- the colour codes are what is checked
		expect(run.stderr).toMatch(/^\u001b\[2m\d\d:\d\d:\d\d\.\d{3}\u001b\[0m \u001b\[32mINFO \u001b\[0m cli: Command finished/m);
		expect(run.stderr).not.toContain('"msg"');
	});

	it('piped or redirected: one JSON object per line', async () => {
		const { root } = await newTempDir();
		const run = await runInProcess(status, cliEnv(root, { LOG_LEVEL: 'info' }), { isTTY: false });
		const lines = run.stderr.trim().split('\n');
		expect(lines.length).toBeGreaterThan(0);
		for (const line of lines) expect(JSON.parse(line)).toMatchObject({ level: expect.any(Number), msg: expect.any(String) });
		expect(lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).toContain('Command finished');
	});

	it('LOG_FORMAT wins over the terminal either way', async () => {
		const { root } = await newTempDir();
		const json = await runInProcess(status, cliEnv(root, { LOG_LEVEL: 'info', LOG_FORMAT: 'json' }), { isTTY: true });
		expect(JSON.parse(json.stderr.trim().split('\n').at(-1)!)).toMatchObject({ msg: 'Command finished', source: 'cli' });
		const pretty = await runInProcess(status, cliEnv(root, { LOG_LEVEL: 'info', LOG_FORMAT: 'pretty' }), { isTTY: false });
		expect(pretty.stderr).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}cli: Command finished {2}command=status exitCode=0 durationMs=\d+$/m);
	});
});
