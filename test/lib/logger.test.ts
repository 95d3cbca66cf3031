import { Writable } from 'node:stream';
import type { LogLevel } from '@sapphire/framework';
import { describe, expect, it } from 'vitest';
import { createLogger, logOutputFor, PinoSapphireLogger } from '../../src/lib/logger.js';

const token = 'MTIzNDU2Nzg5MDEyMzQ1Njc4.GabcDE.secretsecretsecretsecretsecret0123';
const apiKey = 'sk-abcdefghijklmnopqrstuvwxyz0123456789';

/** A real stream that keeps every line pino writes. */
function memory() {
	const chunks: string[] = [];
	const stream = new Writable({
		write(chunk: Buffer, _encoding, callback) {
			chunks.push(chunk.toString('utf8'));
			callback();
		}
	});
	return {
		stream,
		text: () => chunks.join(''),
		lines: () =>
			chunks
				.join('')
				.split('\n')
				.filter((line) => line !== '')
				.map((line) => JSON.parse(line) as Record<string, unknown>)
	};
}

function setup(level: 'trace' | 'debug' | 'info' | 'warn' = 'info') {
	const out = memory();
	const logger = createLogger({ level, secrets: [token, apiKey, undefined, '', 'short'], destination: out.stream });
	return { out, logger };
}

describe('createLogger', () => {
	it('writes structured JSON lines', () => {
		const { out, logger } = setup();
		logger.info({ userId: '123', bytes: 42 }, 'image saved');
		expect(out.lines()).toEqual([
			expect.objectContaining({ level: 30, msg: 'image saved', userId: '123', bytes: 42, time: expect.any(String) })
		]);
	});

	it('censors secret fields by name', () => {
		const { out, logger } = setup();
		logger.info({ token }, 'token field');
		logger.info({ headers: { authorization: `Bearer ${apiKey}` } }, 'headers field');
		logger.info({ req: { headers: { authorization: `Bearer ${apiKey}` } } }, 'request field');
		logger.info({ config: { discordToken: token, stabilityApiKey: apiKey, apiHost: 'https://api.stability.ai' } }, 'config');
		const text = out.text();
		expect(text).not.toContain(token);
		expect(text).not.toContain(apiKey);
		const [tokenLine, headersLine, requestLine, configLine] = out.lines();
		expect(tokenLine).toMatchObject({ token: '[redacted]', msg: 'token field' });
		expect(headersLine).toMatchObject({ headers: { authorization: '[redacted]' }, msg: 'headers field' });
		expect(requestLine).toMatchObject({ req: { headers: { authorization: '[redacted]' } } });
		expect(configLine).toMatchObject({
			config: { discordToken: '[redacted]', stabilityApiKey: '[redacted]', apiHost: 'https://api.stability.ai' }
		});
	});

	it('masks secret values inside messages and keeps the rest of the message', () => {
		const { out, logger } = setup();
		logger.warn(`login failed with token ${token} for shard 0`);
		logger.info('calling %s with key %s', 'https://api.stability.ai', apiKey);
		const text = out.text();
		expect(text).not.toContain(token);
		expect(text).not.toContain(apiKey);
		expect(out.lines().map((line) => line.msg)).toEqual([
			'login failed with token [redacted] for shard 0',
			'calling https://api.stability.ai with key [redacted]'
		]);
	});

	it('masks secret values in errors, unknown fields and child bindings', () => {
		const { out, logger } = setup();
		logger.error({ err: new Error(`401 for key ${apiKey}`) }, 'provider refused');
		logger.info({ url: `https://example.com/?key=${apiKey}`, nested: { deeper: { note: token } } }, 'deep');
		logger.child({ session: token }).info('child');
		const text = out.text();
		expect(text).not.toContain(token);
		expect(text).not.toContain(apiKey);
		const [errorLine, deepLine] = out.lines();
		expect(errorLine).toMatchObject({ msg: 'provider refused', err: { type: 'Error', message: '401 for key [redacted]' } });
		expect(deepLine).toMatchObject({ url: 'https://example.com/?key=[redacted]', nested: { deeper: { note: '[redacted]' } } });
	});

	it('does not mask short or empty "secrets"', () => {
		const { out, logger } = setup();
		logger.info('a short word stays');
		expect(out.lines()[0]).toMatchObject({ msg: 'a short word stays' });
	});

	it('honours the level', () => {
		const { out, logger } = setup('warn');
		logger.info('hidden');
		logger.warn('shown');
		expect(out.lines().map((line) => line.msg)).toEqual(['shown']);
	});
});

describe('pretty format', () => {
	function pretty(color = false) {
		const out = memory();
		const logger = createLogger({ level: 'info', secrets: [token, apiKey], destination: out.stream, format: 'pretty', color });
		return { out, logger };
	}

	it('writes one readable line per entry: local time, level, source, message, then the fields', () => {
		const { out, logger } = pretty();
		logger.info('Ready as Imagine#0001');
		logger.child({ source: 'storage' }).warn({ added: 1, path: '/srv/bot/shared' }, 'Storage ledger corrected from disk');
		const lines = out.text().split('\n');
		expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}Ready as Imagine#0001$/);
		expect(lines[1]).toMatch(
			/^\d\d:\d\d:\d\d\.\d{3} WARN {2}storage: Storage ledger corrected from disk {2}added=1 path=\/srv\/bot\/shared$/
		);
		expect(out.text()).not.toContain('{"level"');
		expect(out.text()).not.toContain('\u001b[');
	});

	it("leaves out the machine copy (Sapphire's details) of an info sentence, keeps it on a warning", () => {
		const { out, logger } = pretty();
		const sapphire = new PinoSapphireLogger(logger);
		sapphire.info('Ready as Imagine#0001: provider preview', { user: 'Imagine#0001', provider: 'preview' });
		sapphire.warn('rate limited', { route: '/channels/1/messages', retryAfter: 2 });
		const [info, warn] = out.text().split('\n');
		expect(info).toMatch(/INFO {2}Ready as Imagine#0001: provider preview$/);
		expect(warn).toMatch(/WARN {2}rate limited {2}details=\{"route":"\/channels\/1\/messages","retryAfter":2\}$/);
	});

	it('prints an error as its stack, indented under the line', () => {
		const { out, logger } = pretty();
		logger.error({ err: new Error('SQLITE_BUSY: database is locked') }, 'Command failed');
		const [head, stack, frame] = out.text().split('\n');
		expect(head).toMatch(/ERROR Command failed$/);
		expect(stack).toBe('    Error: SQLITE_BUSY: database is locked');
		expect(frame).toMatch(/^ {8}at /);
	});

	it('masks and censors exactly as the JSON format does: fields, messages, errors, child bindings', () => {
		const { out, logger } = pretty();
		logger.info({ token, headers: { authorization: `Bearer ${apiKey}` } }, 'fields');
		logger.warn(`login failed with token ${token}`);
		logger.info('calling %s with key %s', 'https://api.stability.ai', apiKey);
		logger.error({ err: new Error(`401 for key ${apiKey}`) }, 'provider refused');
		logger.child({ session: token }).info('child');
		logger.info({ config: { discordToken: token, stabilityApiKey: apiKey } }, 'config');
		const text = out.text();
		expect(text).not.toContain(token);
		expect(text).not.toContain(apiKey);
		expect(text).not.toContain('secretsecret');
		expect(text).toContain('token=[redacted]');
		expect(text).toContain('headers={"authorization":"[redacted]"}');
		expect(text).toContain('login failed with token [redacted]');
		expect(text).toContain('calling https://api.stability.ai with key [redacted]');
		expect(text).toContain('Error: 401 for key [redacted]');
		expect(text).toContain('session=[redacted]');
		expect(text).toContain('config={"discordToken":"[redacted]","stabilityApiKey":"[redacted]"}');
	});

	it('a line break or an escape sequence from Discord text cannot forge a line or repaint the terminal', () => {
		const { out, logger } = pretty();
		logger.info('In 1 server: Evil\n12:00:00.000 FATAL fake line \u001b[2J');
		const [first, second] = out.text().split('\n');
		expect(first).toMatch(/INFO {2}In 1 server: Evil$/);
		expect(second).toBe('    12:00:00.000 FATAL fake line \\u001b[2J');
	});

	it('colours the level only when asked (a terminal)', () => {
		const { out, logger } = pretty(true);
		logger.warn('careful');
		expect(out.text()).toContain('\u001b[33mWARN \u001b[0m careful');
	});
});

describe('logOutputFor', () => {
	it('is readable and coloured on a terminal, JSON lines in a pipe, and LOG_FORMAT wins either way', () => {
		expect(logOutputFor(undefined, { isTTY: true })).toEqual({ format: 'pretty', color: true });
		expect(logOutputFor(undefined, { isTTY: false })).toEqual({ format: 'json', color: false });
		expect(logOutputFor(undefined, {})).toEqual({ format: 'json', color: false });
		expect(logOutputFor('json', { isTTY: true })).toEqual({ format: 'json', color: false });
		expect(logOutputFor('pretty', { isTTY: false })).toEqual({ format: 'pretty', color: false });
	});
});

describe('PinoSapphireLogger', () => {
	it('forwards info, warn and error at the matching pino level', () => {
		const { out, logger } = setup();
		const sapphire = new PinoSapphireLogger(logger);
		sapphire.info('ApplicationCommandRegistries: Initializing...');
		sapphire.warn('rate limited', { route: '/channels/1/messages', retryAfter: 2 });
		const error = new Error(`boom with ${token}`);
		sapphire.error('Encountered error on chat input command "imagine"', error);
		const [info, warn, failure] = out.lines();
		expect(info).toMatchObject({ level: 30, source: 'sapphire', msg: 'ApplicationCommandRegistries: Initializing...' });
		expect(warn).toMatchObject({ level: 40, msg: 'rate limited', details: { route: '/channels/1/messages', retryAfter: 2 } });
		expect(failure).toMatchObject({
			level: 50,
			msg: 'Encountered error on chat input command "imagine"',
			err: { type: 'Error', message: 'boom with [redacted]', stack: expect.stringContaining('Error: boom') }
		});
		expect(out.text()).not.toContain(token);
	});

	it('maps write() levels and gives a lone error a message', () => {
		const { out, logger } = setup('trace');
		const sapphire = new PinoSapphireLogger(logger);
		sapphire.write(10 as LogLevel, 'trace');
		sapphire.write(20 as LogLevel, 'debug');
		sapphire.write(60 as LogLevel, new Error('fatal problem'));
		expect(out.lines().map((line) => [line.level, line.msg])).toEqual([
			[10, 'trace'],
			[20, 'debug'],
			[60, 'fatal problem']
		]);
	});

	it('respects has() and skips disabled levels', () => {
		const { out, logger } = setup('warn');
		const sapphire = new PinoSapphireLogger(logger);
		expect(sapphire.has(20 as LogLevel)).toBe(false);
		expect(sapphire.has(30 as LogLevel)).toBe(false);
		expect(sapphire.has(40 as LogLevel)).toBe(true);
		expect(sapphire.has(50 as LogLevel)).toBe(true);
		sapphire.debug('no');
		sapphire.info('no');
		sapphire.warn('yes');
		expect(out.lines().map((line) => line.msg)).toEqual(['yes']);

		logger.level = 'debug';
		expect(sapphire.has(20 as LogLevel)).toBe(true);
	});
});
