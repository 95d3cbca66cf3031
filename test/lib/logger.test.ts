import { Writable } from 'node:stream';
import type { LogLevel } from '@sapphire/framework';
import { describe, expect, it } from 'vitest';
import { createLogger, PinoSapphireLogger } from '../../src/lib/logger.js';

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
