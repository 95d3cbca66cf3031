import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
	assertWritableDirectory,
	ConfigError,
	configVariableNames,
	configVariables,
	loadConfig,
	loadDotEnv,
	requireDiscordToken
} from '../../src/lib/config.js';
import { renderConfigTable, renderEnvExample, tableCellsAfter } from '../../src/lib/config/docs.js';
import { resolveGenerationOptions } from '../../src/plugins/generation/options.js';
import { resolveStorageOptions } from '../../src/plugins/storage/options.js';

const discordToken = 'MTIzNDU2Nzg5MDEyMzQ1Njc4.GabcDE.secretsecretsecretsecretsecret0123';
const apiKey = 'sk-abcdefghijklmnopqrstuvwxyz0123456789';

let dir: string;

beforeEach(() => {
	dir = mkdtempSync(join(tmpdir(), 'imagine-config-'));
});

afterEach(() => {
	rmSync(dir, { recursive: true, force: true });
});

/** loadConfig with a throwaway storage root, so tests never create ./shared. */
function load(env: NodeJS.ProcessEnv) {
	return loadConfig({ STORAGE_ROOT: join(dir, 'storage'), ...env });
}

function configError(env: NodeJS.ProcessEnv): ConfigError {
	try {
		load(env);
	} catch (error) {
		expect(error).toBeInstanceOf(ConfigError);
		return error as ConfigError;
	}
	throw new Error('expected loadConfig to throw');
}

describe('loadConfig defaults', () => {
	it('leaves every option to the plugins with an empty environment, so their defaults apply', () => {
		const previous = process.cwd();
		process.chdir(dir);
		try {
			const config = loadConfig({});
			expect(config).toEqual({
				storage: { storageRoot: join(dir, 'shared') },
				ownerIds: [],
				generation: { stability: {}, automatic1111: {}, comfyui: {}, openai: {}, http: {} },
				secrets: [],
				logLevel: 'info',
				commandGuildIds: []
			});
			expect(statSync(join(dir, 'shared')).isDirectory()).toBe(true);
			expect(resolveStorageOptions(config.storage)).toMatchObject({
				maxGlobalStorageMb: 5000,
				maxUserDailyGens: 5,
				cleanupIntervalMinutes: 60
			});
		} finally {
			process.chdir(previous);
		}
	});

	it('treats empty and blank variables as unset', () => {
		const config = load({ MAX_USER_STORAGE_MB: '', MAX_USER_DAILY_GENS: '  ', LOG_LEVEL: '', DISCORD_TOKEN: '', OWNER_IDS: '' });
		expect(config.storage.maxUserStorageMb).toBeUndefined();
		expect(resolveStorageOptions(config.storage).maxUserStorageMb).toBe(500);
		expect(resolveStorageOptions(config.storage).maxUserDailyGens).toBe(5);
		expect(config.logLevel).toBe('info');
		expect(config.discordToken).toBeUndefined();
		expect(config.ownerIds).toEqual([]);
	});

	it('reads every variable', () => {
		const config = load({
			MAX_GLOBAL_STORAGE_MB: '10000',
			MAX_USER_STORAGE_MB: '250.5',
			MAX_USER_DAILY_GENS: '0',
			STORAGE_CLEANUP_DAYS: '0.5',
			IMAGE_GEN_SIZE_MB: '2',
			QUOTA_LEDGER_URI: 'sqlite://data/quota.sqlite',
			ROLE_TIERS: '[{ "name": "Supporter", "roleId": "123456789012345678", "dailyGens": 20, "storageMb": 2000 }]',
			OWNER_IDS: ' 123456789012345678 , ,12345678901234567890,',
			OWNER_DAILY_GENS: '100',
			CLEANUP_INTERVAL_MINUTES: '0',
			DISCORD_TOKEN: ` ${discordToken}\n`,
			STABILITY_API_KEY: apiKey,
			API_HOST: 'http://localhost:7860/',
			DISCORD_API_URL: 'http://127.0.0.1:41234/',
			LOG_LEVEL: 'DEBUG'
		});
		expect(config.storage).toMatchObject({
			maxGlobalStorageMb: 10000,
			maxUserStorageMb: 250.5,
			maxUserDailyGens: 0,
			cleanupDays: 0.5,
			estimatedImageMb: 2,
			ledgerUri: 'sqlite://data/quota.sqlite',
			roleTiers: [{ name: 'Supporter', roleId: '123456789012345678', dailyGens: 20, storageMb: 2000 }],
			ownerIds: ['123456789012345678', '12345678901234567890'],
			ownerLimits: { dailyGens: 100 },
			cleanupIntervalMinutes: 0
		});
		expect(config.ownerIds).toEqual(['123456789012345678', '12345678901234567890']);
		expect(config.discordToken).toBe(discordToken);
		expect(config.stabilityApiKey).toBe(apiKey);
		expect(config.apiHost).toBe('http://localhost:7860');
		expect(config.discordApiUrl).toBe('http://127.0.0.1:41234');
		expect(config.logLevel).toBe('debug');
	});
});

describe('loadConfig rejects bad values, naming the variable and the value', () => {
	it.each([
		['MAX_USER_STORAGE_MB', 'lots', '- MAX_USER_STORAGE_MB: expected a number of megabytes above 0 (got "lots")'],
		['MAX_GLOBAL_STORAGE_MB', '-5', '- MAX_GLOBAL_STORAGE_MB: expected a number of megabytes above 0 (got "-5")'],
		['MAX_USER_STORAGE_MB', '0', '- MAX_USER_STORAGE_MB: expected a number of megabytes above 0 (got "0")'],
		['IMAGE_GEN_SIZE_MB', '12abc', '- IMAGE_GEN_SIZE_MB: expected a number of megabytes above 0 (got "12abc")'],
		['MAX_USER_STORAGE_MB', 'Infinity', '- MAX_USER_STORAGE_MB: expected a number of megabytes above 0 (got "Infinity")'],
		['STORAGE_CLEANUP_DAYS', 'NaN', '- STORAGE_CLEANUP_DAYS: expected a number of days above 0, at most 3650 (got "NaN")'],
		['MAX_USER_DAILY_GENS', '2.5', '- MAX_USER_DAILY_GENS: expected a whole number of generations per day, 0 or more (got "2.5")'],
		['MAX_USER_DAILY_GENS', '-1', '- MAX_USER_DAILY_GENS: expected a whole number of generations per day, 0 or more (got "-1")'],
		['OWNER_DAILY_GENS', '1e3', '- OWNER_DAILY_GENS: expected a whole number of generations per day, 0 or more (got "1e3")'],
		['CLEANUP_INTERVAL_MINUTES', 'hourly', '- CLEANUP_INTERVAL_MINUTES: expected a whole number of minutes'],
		[
			'QUOTA_LEDGER_URI',
			'redis://localhost',
			'- QUOTA_LEDGER_URI: expected sqlite://<file> (e.g. sqlite://shared/quota.sqlite) or postgres://'
		],
		['API_HOST', 'api.stability.ai', '- API_HOST: expected an http(s) URL such as https://api.stability.ai (got "api.stability.ai")'],
		[
			'API_HOST',
			'ftp://files.example.com',
			'- API_HOST: expected an http(s) URL such as https://api.stability.ai (got "ftp://files.example.com")'
		],
		[
			'DISCORD_API_URL',
			'127.0.0.1:8080',
			'- DISCORD_API_URL: expected an http(s) URL such as http://127.0.0.1:8080 (got "127.0.0.1:8080")'
		],
		['LOG_LEVEL', 'verbose', '- LOG_LEVEL: expected one of trace, debug, info, warn, error, fatal (got "verbose")'],
		['ALLOW_NSFW_LAX', 'maybe', '- ALLOW_NSFW_LAX: expected true or false (got "maybe")'],
		['ALLOW_NSFW_LAX', 'yes', '- ALLOW_NSFW_LAX: expected true or false (got "yes")']
	])('%s=%s', (name, value, line) => {
		const error = configError({ [name]: value });
		expect(error.message).toContain(line);
		expect(error.problems).toHaveLength(1);
	});

	it("ALLOW_NSFW_LAX: true or false in any case, for the storage plugin's allowNsfwLax; unset leaves its default (false)", () => {
		expect(load({ ALLOW_NSFW_LAX: ' TRUE ' }).storage.allowNsfwLax).toBe(true);
		expect(load({ ALLOW_NSFW_LAX: 'false' }).storage.allowNsfwLax).toBe(false);
		expect(load({}).storage.allowNsfwLax).toBeUndefined();
		expect(resolveStorageOptions(load({}).storage).allowNsfwLax).toBe(false);
	});

	it('LOG_FORMAT: json or pretty in any case; unset leaves the choice to the terminal; anything else is named', () => {
		expect(load({ LOG_FORMAT: ' Pretty ' }).logFormat).toBe('pretty');
		expect(load({ LOG_FORMAT: 'json' }).logFormat).toBe('json');
		expect(load({}).logFormat).toBeUndefined();
		expect(configError({ LOG_FORMAT: 'text' }).problems).toEqual([
			'- LOG_FORMAT: expected json or pretty (unset: pretty on a terminal, json otherwise) (got "text")'
		]);
	});

	it('COMMAND_GUILD_IDS: comma-separated server ids, blanks and repeats dropped; a bad entry is named, nothing half-used', () => {
		expect(load({ COMMAND_GUILD_IDS: ' 123456789012345678 ,,123456789012345678, 98765432109876543 ' }).commandGuildIds).toEqual([
			'123456789012345678',
			'98765432109876543'
		]);
		expect(load({ COMMAND_GUILD_IDS: '' }).commandGuildIds).toEqual([]);
		expect(configError({ COMMAND_GUILD_IDS: '123456789012345678, https://discord.com/channels/1' }).problems).toEqual([
			'- COMMAND_GUILD_IDS: expected comma-separated Discord ids (17 to 20 digits each); not an id: "https://discord.com/channels/1" (got "123456789012345678, https://discord.com/channels/1")'
		]);
	});

	it('names the OWNER_IDS entry that is not a Discord id', () => {
		const error = configError({ OWNER_IDS: '123456789012345678, 1234, abc' });
		expect(error.problems).toEqual([
			'- OWNER_IDS: expected comma-separated Discord ids (17 to 20 digits each); not an id: "1234", "abc" (got "123456789012345678, 1234, abc")'
		]);
	});

	it('rejects ROLE_TIERS that is not JSON', () => {
		const error = configError({ ROLE_TIERS: '[{name: Supporter}]' });
		expect(error.problems).toHaveLength(1);
		expect(error.message).toMatch(
			/^- ROLE_TIERS: expected JSON like \[\{"name":"Supporter".*does not parse .*\(got "\[\{name: Supporter\}\]"\)$/m
		);
	});

	it('rejects ROLE_TIERS that is not an array', () => {
		const error = configError({ ROLE_TIERS: '{"name":"Supporter"}' });
		expect(error.message).toContain('- ROLE_TIERS: expected a JSON array of tiers like [');
	});

	it('names each wrong field of a tier with its value', () => {
		const error = configError({ ROLE_TIERS: '[{"name":"Supporter","roleId":"12345","dailyGens":-1}]' });
		expect(error.problems).toEqual([
			'- ROLE_TIERS[0].roleId: expected a Discord id (17 to 20 digits) (got "12345")',
			'- ROLE_TIERS[0].dailyGens: expected 0 or more (got -1)',
			'- ROLE_TIERS[0].storageMb: expected a number, but the field is missing'
		]);
	});

	it('lists every bad variable in one error', () => {
		const error = configError({ MAX_USER_STORAGE_MB: 'lots', MAX_USER_DAILY_GENS: '2.5', LOG_LEVEL: 'loud', API_HOST: 'nope' });
		expect(error.problems.map((line) => line.split(':')[0])).toEqual([
			'- MAX_USER_STORAGE_MB',
			'- MAX_USER_DAILY_GENS',
			'- API_HOST',
			'- LOG_LEVEL'
		]);
		expect(error.message.split('\n')).toHaveLength(5);
	});

	it('never prints secret values, only their length', () => {
		const token = `Bot ${discordToken}`;
		const key = `${apiKey} extra`;
		const error = configError({ DISCORD_TOKEN: token, STABILITY_API_KEY: key, MAX_USER_STORAGE_MB: 'lots' });
		expect(error.message).not.toContain(discordToken);
		expect(error.message).not.toContain(apiKey);
		expect(error.message).toContain(
			`- DISCORD_TOKEN: expected the bot token alone, without spaces or a "Bot " prefix (got a value of ${token.length} characters)`
		);
		expect(error.message).toContain(
			`- STABILITY_API_KEY: expected the API key alone, without spaces (got a value of ${key.length} characters)`
		);
		expect(error.message).toContain('MAX_USER_STORAGE_MB');
	});
});

describe('STORAGE_ROOT', () => {
	it('creates a nested directory that does not exist', () => {
		const root = join(dir, 'a', 'b', 'c');
		const config = loadConfig({ STORAGE_ROOT: root });
		expect(config.storage.storageRoot).toBe(root);
		expect(statSync(root).isDirectory()).toBe(true);
	});

	it('fails naming STORAGE_ROOT, the path and the reason when it cannot be created', () => {
		// A path under a regular file fails with ENOTDIR, even for root (chmod would not stop root).
		const file = join(dir, 'not-a-dir');
		writeFileSync(file, 'x');
		const root = join(file, 'storage');
		let error: unknown;
		try {
			loadConfig({ STORAGE_ROOT: root, MAX_USER_STORAGE_MB: 'lots' });
		} catch (caught) {
			error = caught;
		}
		expect(error).toBeInstanceOf(ConfigError);
		const { message, problems } = error as ConfigError;
		expect(problems).toHaveLength(2);
		expect(message).toMatch(/^- STORAGE_ROOT: .*ENOTDIR/m);
		expect(message).toContain(root);
		expect(message).toContain('MAX_USER_STORAGE_MB');
	});

	it('fails when STORAGE_ROOT is a file', () => {
		const file = join(dir, 'file');
		writeFileSync(file, 'x');
		expect(() => assertWritableDirectory('STORAGE_ROOT', file)).toThrowError(/STORAGE_ROOT: .*EEXIST: it exists and is not a directory/);
	});

	it('returns the absolute path of a writable directory', () => {
		expect(assertWritableDirectory('STORAGE_ROOT', join(dir, 'x'))).toBe(join(dir, 'x'));
	});
});

describe('requireDiscordToken', () => {
	it('returns the token when set', () => {
		expect(requireDiscordToken(load({ DISCORD_TOKEN: discordToken }))).toBe(discordToken);
	});

	it('tells the user to copy .env.example when missing', () => {
		expect(() => requireDiscordToken(load({}))).toThrowError(/^DISCORD_TOKEN is not set: copy \.env\.example to \.env/);
	});
});

describe('loadDotEnv', () => {
	it('loads a .env file without overriding variables already set', () => {
		const file = join(dir, '.env');
		writeFileSync(file, 'IMAGINE_TEST_FROM_FILE=file\nIMAGINE_TEST_BOTH=file\n');
		process.env.IMAGINE_TEST_BOTH = 'environment';
		try {
			expect(loadDotEnv(file)).toBe(true);
			expect(process.env.IMAGINE_TEST_FROM_FILE).toBe('file');
			expect(process.env.IMAGINE_TEST_BOTH).toBe('environment');
		} finally {
			delete process.env.IMAGINE_TEST_FROM_FILE;
			delete process.env.IMAGINE_TEST_BOTH;
		}
	});

	it('does nothing when the file does not exist', () => {
		expect(loadDotEnv(join(dir, 'missing.env'))).toBe(false);
	});
});

describe('.env.example', () => {
	const text = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
	const example = parseEnv(text);

	it('documents exactly the variables the code reads, DISCORD_TOKEN first', () => {
		expect(Object.keys(example).sort()).toEqual([...configVariableNames].sort());
		expect(/^[A-Z_]+(?==)/m.exec(text)?.[0]).toBe('DISCORD_TOKEN');
	});

	it('loads as is, giving the defaults', () => {
		const fromExample = load({ ...example, STORAGE_ROOT: join(dir, 'storage') });
		const fromNothing = load({});
		expect(resolveStorageOptions(fromExample.storage)).toEqual(resolveStorageOptions(fromNothing.storage));
		expect(resolveGenerationOptions(fromExample.generation)).toEqual(resolveGenerationOptions(fromNothing.generation));
		expect(fromExample.logLevel).toBe(fromNothing.logLevel);
	});

	it('is exactly what the table of variables renders (npm run docs:config)', () => {
		expect(text).toBe(renderEnvExample());
	});
});

describe('the README configuration table', () => {
	const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

	it('lists every variable, its default and its meaning as the table of variables does (npm run docs:config)', () => {
		expect(tableCellsAfter(readme, '## Configuration')).toEqual(tableCellsAfter(renderConfigTable(), ''));
	});

	it("documents each plugin option's real default", () => {
		const storage = resolveStorageOptions({}) as unknown as Record<string, unknown>;
		const generation = resolveGenerationOptions({}) as unknown as Record<string, unknown>;
		const checked: string[] = [];
		for (const row of configVariables) {
			const literal = /^`([^`]+)`$/.exec(row.documentedDefault)?.[1];
			// A default written as a pattern (sqlite://<STORAGE_ROOT>/...) or a relative path is not a value to compare.
			if (!row.option || literal === undefined || literal.includes('<') || row.name === 'STORAGE_ROOT') continue;
			const [plugin, ...path] = row.option.split('.');
			const actual = path.reduce<unknown>(
				(value, key) => (value as Record<string, unknown> | undefined)?.[key],
				plugin === 'storage' ? storage : generation
			);
			const documented = row.parse.parse(literal);
			// Owners' daily default lives in the limits code, not in the option (which stays unset).
			if (row.name === 'OWNER_DAILY_GENS') expect(actual).toBeUndefined();
			else expect(actual, row.name).toEqual(documented);
			checked.push(row.name);
		}
		expect(checked).toEqual(
			expect.arrayContaining(['MAX_GLOBAL_STORAGE_MB', 'CLEANUP_INTERVAL_MINUTES', 'STABILITY_API', 'GENERATION_CONCURRENCY'])
		);
	});
});

describe('generation variables', () => {
	it('map onto the generation plugin: provider, model, host for the provider chosen, credentials', () => {
		const stability = load({ STABILITY_API_KEY: apiKey, STABILITY_MODEL: 'sd3.5-medium', API_HOST: 'https://proxy.example/stability/' });
		expect(stability.generation).toMatchObject({
			stability: { apiKey, model: 'sd3', sd3Model: 'sd3.5-medium', host: 'https://proxy.example/stability' },
			automatic1111: {}
		});
		const local = load({ IMAGE_PROVIDER: 'automatic1111', API_HOST: 'http://gpu-box:7860', A1111_AUTH: 'artist:pa:ss' });
		expect(local.generation).toMatchObject({
			provider: 'automatic1111',
			automatic1111: { host: 'http://gpu-box:7860', username: 'artist', password: 'pa:ss' },
			stability: {}
		});
		expect(local.secrets).toEqual(expect.arrayContaining(['artist:pa:ss', 'pa:ss']));
		const generation = load({ GENERATION_CONCURRENCY: '4', GENERATION_TIMEOUT_SECONDS: '120' }).generation;
		expect(generation.concurrency).toBe(4);
		expect(generation.http).toEqual({ generateTimeoutSeconds: 120 });
	});

	it('refuses wrong values, naming each, and never echoes a credential', () => {
		const error = configError({
			IMAGE_PROVIDER: 'midjourney',
			STABILITY_MODEL: 'sdxl',
			STABILITY_API: 'v3',
			GENERATION_CONCURRENCY: '0',
			A1111_AUTH: 'no-colon-secret'
		});
		expect(error.message).toContain('- IMAGE_PROVIDER: expected stability, automatic1111, comfyui, openai or preview (got "midjourney")');
		expect(error.message).toContain('- STABILITY_MODEL: expected one of core, ultra');
		expect(error.message).toContain('- STABILITY_API: expected v2beta (current) or v1 (engines)');
		expect(error.message).toContain('- GENERATION_CONCURRENCY: expected a whole number of generations, 1 or more');
		expect(error.message).toContain('- A1111_AUTH: expected user:password');
		expect(error.message).not.toContain('no-colon-secret');
	});
});

describe('a PostgreSQL ledger URI', () => {
	it('is accepted, its password is masked in logs, and never shown back in an error', () => {
		const config = load({
			QUOTA_LEDGER_URI: 'postgres://bot:s3cr%2Ft-pass@db.internal:5432/imagine?sslmode=require',
			QUOTA_LEDGER_POOL_SIZE: '3'
		});
		expect(config.storage).toMatchObject({
			ledgerUri: 'postgres://bot:s3cr%2Ft-pass@db.internal:5432/imagine?sslmode=require',
			ledgerPoolSize: 3
		});
		expect(config.secrets).toEqual(expect.arrayContaining(['s3cr%2Ft-pass', 's3cr/t-pass']));
		const error = configError({ QUOTA_LEDGER_URI: 'postgres://bot:hunter2-secret@db host/imagine', QUOTA_LEDGER_POOL_SIZE: '500' });
		expect(error.message).toContain('- QUOTA_LEDGER_URI: expected sqlite://<file>');
		expect(error.message).toContain('postgres://bot:***@db host/imagine');
		expect(error.message).not.toContain('hunter2-secret');
		expect(error.message).toContain('- QUOTA_LEDGER_POOL_SIZE: expected a whole number of connections from 1 to 50 (got "500")');
	});
});

describe('ComfyUI and OpenAI variables', () => {
	const workflow = {
		'1': { class_type: 'LoadImage', inputs: { image: '{{image}}' } },
		'2': { class_type: 'SaveImage', inputs: { filename_prefix: 'x', images: ['1', 0] } }
	};

	function workflowFolder(files: Record<string, unknown>): string {
		const folder = join(dir, 'workflows');
		mkdirSync(folder, { recursive: true });
		for (const [name, content] of Object.entries(files)) writeFileSync(join(folder, name), JSON.stringify(content));
		return folder;
	}

	it("map onto the plugin's comfyui and openai options; headers, the key and a URL password are secrets", () => {
		const folder = workflowFolder({ 'upscale.json': workflow });
		const config = load({
			IMAGE_PROVIDER: 'ComfyUI',
			COMFYUI_URL: 'http://artist:pa55word@gpu-box:8188/',
			COMFYUI_CHECKPOINT: 'sdxl/juggernaut XL.safetensors',
			COMFYUI_WORKFLOWS: folder,
			COMFYUI_HEADERS: '{"X-Proxy-Token":"proxy-token-value-123","CF-Access-Client-Id":"client-id-value"}',
			OPENAI_API_KEY: apiKey,
			OPENAI_BASE_URL: 'https://my-resource.openai.azure.com/openai/v1/',
			OPENAI_IMAGE_MODEL: 'dall-e-3'
		});
		expect(config.generation).toMatchObject({
			provider: 'comfyui',
			comfyui: {
				url: 'http://artist:pa55word@gpu-box:8188',
				checkpoint: 'sdxl/juggernaut XL.safetensors',
				workflowsDir: folder,
				headers: { 'X-Proxy-Token': 'proxy-token-value-123', 'CF-Access-Client-Id': 'client-id-value' }
			},
			openai: { apiKey, baseUrl: 'https://my-resource.openai.azure.com/openai/v1', model: 'dall-e-3' }
		});
		expect(config.secrets).toEqual(expect.arrayContaining([apiKey, 'proxy-token-value-123', 'client-id-value', 'pa55word']));
		expect(load({ IMAGE_PROVIDER: 'openai' }).generation.provider).toBe('openai');
	});

	it.each([
		['COMFYUI_URL', 'gpu-box:8188', '- COMFYUI_URL: expected an http(s) URL such as http://127.0.0.1:8188 (got "gpu-box:8188")'],
		[
			'OPENAI_BASE_URL',
			'api.openai.com/v1',
			'- OPENAI_BASE_URL: expected an http(s) URL such as https://api.openai.com/v1 (got "api.openai.com/v1")'
		],
		['OPENAI_IMAGE_MODEL', 'gpt image', '- OPENAI_IMAGE_MODEL: expected a model name such as gpt-image-1 or dall-e-3 (got "gpt image")'],
		[
			'COMFYUI_CHECKPOINT',
			'model.safetensors\nrm -rf',
			'- COMFYUI_CHECKPOINT: expected a checkpoint file name such as v1-5-pruned-emaonly.safetensors (got "model.safetensors\\nrm -rf")'
		],
		['IMAGE_PROVIDER', 'comfy', '- IMAGE_PROVIDER: expected stability, automatic1111, comfyui, openai or preview (got "comfy")'],
		['OPENAI_API_KEY', 'sk-one two', '- OPENAI_API_KEY: expected the API key alone, without spaces (got a value of 10 characters)']
	])('%s=%s', (name, value, line) => {
		const error = configError({ [name]: value });
		expect(error.problems).toEqual([line]);
	});

	it('COMFYUI_HEADERS that is not JSON, or holds a header that cannot be sent, is refused without printing it', () => {
		const notJson = configError({ COMFYUI_HEADERS: "{'X-Proxy-Token': 'tok-secret-value'}" });
		expect(notJson.problems).toEqual([
			'- COMFYUI_HEADERS: expected JSON like {"X-Proxy-Token":"..."}, but it does not parse (got a value of 37 characters)'
		]);
		const twoLines = configError({ COMFYUI_HEADERS: '{"X-Proxy-Token":"tok-secret-value\\r\\nHost: evil"}' });
		expect(twoLines.problems).toEqual([
			expect.stringMatching(/^- COMFYUI_HEADERS: the value of X-Proxy-Token must be one line \(got a value of \d+ characters\)$/)
		]);
		const notObject = configError({ COMFYUI_HEADERS: '["tok-secret-value"]' });
		expect(notObject.message).toContain('- COMFYUI_HEADERS: expected an object of header names and values');
		for (const error of [notJson, twoLines, notObject]) expect(error.message).not.toContain('tok-secret-value');
	});

	it('COMFYUI_WORKFLOWS: a folder that is not there, or a file without the placeholders, names the file', () => {
		const missing = configError({ COMFYUI_WORKFLOWS: join(dir, 'nowhere'), MAX_USER_STORAGE_MB: 'lots' });
		expect(missing.problems).toHaveLength(2);
		expect(missing.message).toMatch(
			/^- COMFYUI_WORKFLOWS: expected a folder of ComfyUI workflows \(API format\), but the folder .*nowhere cannot be read \(ENOENT\) \(got ".*nowhere"\)$/m
		);

		const folder = workflowFolder({ 'text-to-image.json': workflow });
		const lacking = configError({ COMFYUI_WORKFLOWS: folder });
		expect(lacking.problems).toEqual([
			expect.stringContaining(`${join(folder, 'text-to-image.json')}: uses {{image}}, which text-to-image workflows do not fill`)
		]);
		expect(lacking.message).toContain('lacks the placeholder {{seed}}');
	});
});
