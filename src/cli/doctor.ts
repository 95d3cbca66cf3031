import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { open, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, loadConfig, type AppConfig } from '../lib/config.js';
import { ImageGenerator } from '../plugins/generation/ImageGenerator.js';
import type { ProviderProbe } from '../plugins/generation/requests.js';
import { LocalImageStore } from '../plugins/storage/images/local/LocalImageStore.js';
import { openImageStore } from '../plugins/storage/images/openImageStore.js';
import { isSnowflake } from '../plugins/storage/ids.js';
import { TEMP_FOLDER, USERS_FOLDER } from '../plugins/storage/images/records.js';
import { isPostgresUri } from '../plugins/storage/ledger/openLedger.js';
import { inspectPostgresLedger, type PostgresLedgerHealth } from '../plugins/storage/ledger/postgres/health.js';
import { inspectLedger, type LedgerHealth } from '../plugins/storage/ledger/sqlite/health.js';
import { resolveStorageOptions, withoutPassword, type ResolvedStorageOptions } from '../plugins/storage/options.js';
import { StorageConfigError } from '../plugins/storage/StorageConfigError.js';
import { BYTES_PER_MB, formatMb } from '../plugins/storage/units.js';
import type { EnvironmentContext, Outcome, StandaloneCommand } from './commands.js';
import { dotEnvPathOf } from './environment.js';
import { ExitCode, exitCodeOf } from './exitCodes.js';

export type CheckName = 'configuration' | 'storage' | 'ledger' | 'provider';
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skipped';

/** One line of the report. `reason` (a failure's code, as the other commands use them) picks the exit code. */
export interface CheckResult {
	name: CheckName;
	status: CheckStatus;
	reason?: string;
	message: string;
	/** What to do about it, for a warning or a failure. */
	fix?: string;
	details?: Record<string, unknown>;
}

/** Below this many credits not even one Stable Image Core generation (3 credits) is paid for. */
const LOW_CREDITS = 3;
const KEYS_PAGE = 'https://platform.stability.ai/account/keys';
const CREDITS_PAGE = 'https://platform.stability.ai/account/credits';

/**
 * `sapphire-imagine doctor`: is this machine ready to run the bot? Checks, in order, the configuration (.env and
 * the environment, DISCORD_TOKEN included), the storage root (writable, free space against the global cap), the
 * ledger (opens, `PRAGMA quick_check`, schema) and the image provider (key and reachability, through the
 * provider's own cheapest authenticated call). Changes nothing, except creating STORAGE_ROOT as the bot would.
 */
export const doctor: StandaloneCommand = {
	name: 'doctor',
	standalone: true,
	summary: 'Check the configuration, the storage, the ledger and the image provider, and say what to fix',
	synopsis: 'doctor',
	description: [
		'Checks what the bot needs before it starts: the configuration (.env and the environment, DISCORD_TOKEN included), ' +
			'the storage root (writable, free space against MAX_GLOBAL_STORAGE_MB; with STORAGE_URI=s3://, the bucket answers with the ' +
			'credentials), the quota ledger (a SQLite file: opens, integrity, schema; PostgreSQL: the server answers, schema) and ' +
			'the image provider (Stability: the key, with a free balance request; AUTOMATIC1111: the web UI answers; preview: nothing ' +
			'to check). Every check that fails says what to fix. It never contacts Discord and changes nothing (it creates STORAGE_ROOT if missing, as the bot would).',
		'Exit code: 0 when nothing failed (warnings allowed), otherwise that of the first failed check: 2 configuration (CONFIG; also a ' +
			'damaged ledger or one that belongs to another storage root, which the bot refuses), 1 storage or a ledger it cannot open (IO), 4 provider (NOT_CONFIGURED, AUTH, UNAVAILABLE, TIMEOUT, PROVIDER_ERROR). ' +
			'With --json: { ok, reason?, message?, checks: [{ name, status, reason?, message, fix?, details? }] }.'
	],
	options: {},
	prepare() {
		return diagnose;
	}
};

async function diagnose({ io, environment }: EnvironmentContext): Promise<Outcome> {
	const checks: CheckResult[] = [];
	const configuration = checkConfiguration(environment, dotEnvPathOf(io));
	checks.push(configuration.result);
	const { config } = configuration;
	if (!config) {
		const reason = 'the configuration must load first';
		for (const name of ['storage', 'ledger', 'provider'] as const)
			checks.push({ name, status: 'skipped', message: `not checked: ${reason}` });
	} else {
		const storage = resolveStorageOptions(config.storage);
		if (isPostgresUri(storage.ledgerUri)) {
			const ledger = await inspectPostgresLedger(storage.ledgerUri, {
				connectTimeoutMs: storage.busyTimeoutMs,
				...(storage.ledgerTls === undefined ? {} : { tls: storage.ledgerTls })
			});
			const store = await inspectStore(storage, ledger.storedBytes);
			checks.push(store.result, checkPostgresLedger(ledger, store.storeId));
		} else {
			const ledger = await inspectLedger(storage.ledgerUri, storage.busyTimeoutMs);
			const store = await inspectStore(storage, ledger.storedBytes);
			checks.push(store.result, checkLedger(ledger, store.storeId));
		}
		checks.push(await checkProvider(config, io.signal));
	}
	return outcomeOf(checks);
}

/** The storage check and the identity of the image store (the ledger must describe that store). */
async function inspectStore(
	storage: ResolvedStorageOptions,
	storedBytes: number | null
): Promise<{ result: CheckResult; storeId: string | null }> {
	if (storage.storageUri === undefined) {
		return { result: await checkStorage(storage, storedBytes), storeId: await new LocalImageStore(storage.storageRoot).existingIdentity() };
	}
	// With a bucket, the root keeps only the logs (and a SQLite ledger): it must take a file; its free space is no cap.
	const problem = await writeProbe(storage.storageRoot);
	if (problem) {
		return {
			storeId: null,
			result: {
				name: 'storage',
				status: 'fail',
				reason: 'IO',
				message: `cannot write in ${storage.storageRoot} (the logs): ${problem}`,
				fix: `Make ${storage.storageRoot} a folder the bot's user can write to (or point STORAGE_ROOT somewhere else).`,
				details: { storageRoot: storage.storageRoot }
			}
		};
	}
	return checkBucket(storage);
}

/** What the storage does at start with a bucket: HeadBucket with the credentials, then the store's identity marker. */
async function checkBucket(storage: ResolvedStorageOptions): Promise<{ result: CheckResult; storeId: string | null }> {
	const details = { storageUri: storage.storageUri, endpoint: storage.s3.endpoint ?? null, region: storage.s3.region };
	let store;
	try {
		store = await openImageStore(storage);
		await store.prepare();
		const storeId = await store.identity();
		return {
			storeId,
			result: { name: 'storage', status: 'ok', message: `${store.describe()} answers with these credentials (store ${storeId})`, details }
		};
	} catch (error) {
		const configuration = error instanceof StorageConfigError;
		return {
			storeId: null,
			result: {
				name: 'storage',
				status: 'fail',
				reason: configuration ? 'CONFIG' : 'IO',
				message: configuration ? error.message : `the bucket of ${storage.storageUri} cannot be used: ${(error as Error).message}`,
				fix: 'Check STORAGE_URI, S3_ENDPOINT, S3_REGION, S3_FORCE_PATH_STYLE and the AWS credentials (README: S3-compatible storage).',
				details
			}
		};
	} finally {
		await store?.close().catch(() => undefined);
	}
}

function checkConfiguration(
	environment: NodeJS.ProcessEnv | ConfigError,
	dotEnvPath: string
): { result: CheckResult; config: AppConfig | null } {
	const fixConfig = `Correct the variables named above in ${dotEnvPath} or in the environment (.env.example describes each one).`;
	if (environment instanceof ConfigError) {
		return {
			result: { name: 'configuration', status: 'fail', reason: 'CONFIG', message: environment.message, fix: fixConfig },
			config: null
		};
	}
	let config: AppConfig;
	try {
		config = loadConfig(environment);
	} catch (error) {
		if (!(error instanceof ConfigError)) throw error;
		const result: CheckResult = {
			name: 'configuration',
			status: 'fail',
			reason: 'CONFIG',
			message: error.message,
			fix: fixConfig,
			details: { problems: error.problems }
		};
		return { result, config: null };
	}
	const source = existsSync(dotEnvPath) ? `${dotEnvPath} and the environment` : `the environment (no ${dotEnvPath})`;
	const summary =
		`read from ${source}; storage root ${resolveStorageOptions(config.storage).storageRoot}; slash commands registered ` +
		(config.commandGuildIds.length > 0 ? `in server ${config.commandGuildIds.join(', ')} only` : 'globally');
	const details = { commandGuildIds: config.commandGuildIds };
	if (!config.discordToken) {
		return {
			result: {
				name: 'configuration',
				status: 'fail',
				reason: 'CONFIG',
				message: `DISCORD_TOKEN is not set: the bot cannot log in (${summary})`,
				fix: `Put the bot's token in ${dotEnvPath} as DISCORD_TOKEN=... (Developer Portal -> your application -> Bot -> Reset Token).`,
				details
			},
			config
		};
	}
	if (!looksLikeBotToken(config.discordToken)) {
		return {
			result: {
				name: 'configuration',
				status: 'warn',
				message: `DISCORD_TOKEN does not look like a bot token (three parts separated by dots) (${summary})`,
				fix:
					'Copy the token from Developer Portal -> your application -> Bot -> Reset Token; the Application ID, the Public Key ' +
					'and the OAuth2 Client Secret are not the token.',
				details
			},
			config
		};
	}
	return { result: { name: 'configuration', status: 'ok', message: summary, details }, config };
}

/** A bot token is three base64url parts; the first is the bot's user id. Discord may change the shape, so this only warns. */
function looksLikeBotToken(token: string): boolean {
	const [id, ...rest] = token.split('.');
	if (rest.length !== 2 || !rest.every((part) => /^[\w-]+$/.test(part)) || !id) return false;
	return isSnowflake(Buffer.from(id, 'base64url').toString('utf8'));
}

async function checkStorage(storage: ResolvedStorageOptions, ledgerStoredBytes: number | null): Promise<CheckResult> {
	const { storageRoot: root, maxGlobalStorageMb, estimatedImageMb } = storage;
	// The root and whichever of its folders exist: each must take a new file (the folders are created at start).
	const folders = [USERS_FOLDER, TEMP_FOLDER, 'logs'].map((folder) => join(root, ...folder.split('/')));
	for (const directory of [root, ...folders.filter((folder) => existsSync(folder))]) {
		const problem = await writeProbe(directory);
		if (problem) {
			return {
				name: 'storage',
				status: 'fail',
				reason: 'IO',
				message: `cannot write in ${directory}: ${problem}`,
				fix: `Make ${directory} a folder the bot's user can write to (or point STORAGE_ROOT somewhere else).`,
				details: { storageRoot: root, directory }
			};
		}
	}
	const disk = await statfs(root);
	const freeBytes = disk.bavail * disk.bsize;
	const capBytes = maxGlobalStorageMb * BYTES_PER_MB;
	const storedBytes = ledgerStoredBytes ?? 0;
	const roomUnderCap = Math.max(0, capBytes - storedBytes);
	const details = { storageRoot: root, freeMb: formatMb(freeBytes), capMb: maxGlobalStorageMb, storedMb: formatMb(storedBytes) };
	const free = `${formatMb(freeBytes)} MB free on its disk`;
	if (freeBytes < estimatedImageMb * BYTES_PER_MB) {
		return {
			name: 'storage',
			status: 'fail',
			reason: 'IO',
			message: `${root} is writable but its disk is full: ${free}, less than one image (IMAGE_GEN_SIZE_MB ${estimatedImageMb})`,
			fix: 'Free space on that disk, or move STORAGE_ROOT to a larger one.',
			details
		};
	}
	if (freeBytes < roomUnderCap) {
		const advised = Math.floor((storedBytes + freeBytes * 0.9) / BYTES_PER_MB);
		return {
			name: 'storage',
			status: 'warn',
			message:
				`${root} is writable; ${free}, but MAX_GLOBAL_STORAGE_MB (${maxGlobalStorageMb}) lets ${formatMb(roomUnderCap)} MB more be stored: ` +
				'the disk fills up before the cap stops new images',
			fix: `Lower MAX_GLOBAL_STORAGE_MB to about ${advised}, or free space on that disk.`,
			details
		};
	}
	return {
		name: 'storage',
		status: 'ok',
		message: `${root} is writable; ${free}, room for the ${maxGlobalStorageMb} MB cap (${formatMb(storedBytes)} MB stored)`,
		details
	};
}

/** Creates, fsyncs and removes a small file: what a save does, without touching anything of the bot's. */
async function writeProbe(directory: string): Promise<string | null> {
	if (!statSync(directory, { throwIfNoEntry: false })?.isDirectory()) return 'it is not a folder';
	const probe = join(directory, `.doctor-${process.pid}-${randomBytes(4).toString('hex')}`);
	try {
		const handle = await open(probe, 'wx');
		try {
			await handle.writeFile('sapphire-imagine doctor\n');
			await handle.sync();
		} finally {
			await handle.close();
		}
		return null;
	} catch (error) {
		return (error as Error).message;
	} finally {
		await rm(probe, { force: true }).catch(() => undefined);
	}
}

/** `storeId`: the identity of the storage root's image store, when it has one (the ledger must describe that store). */
function checkLedger(health: LedgerHealth, storeId: string | null): CheckResult {
	const { file } = health;
	// What the bot itself says of a damaged ledger (it refuses to start on one, as a configuration error).
	const rebuild =
		`Stop the bot, move ${file} aside (mv ${file} ${file}.damaged, with its -wal and -shm files) and start again: a new ledger ` +
		"is rebuilt from the stored images, today's generation counts included (limit overrides set with `limits` are not).";
	const schema = {
		schemaVersion: health.schemaVersion,
		currentVersion: health.currentVersion,
		tables: health.tables,
		missingTables: health.missingTables
	};
	if (!health.exists) {
		return {
			name: 'ledger',
			status: 'ok',
			message: `${file} does not exist yet: the bot creates it when it starts`,
			details: { file, exists: false }
		};
	}
	if (health.error !== undefined) {
		const damaged = health.errorCode === 'SQLITE_CORRUPT' || health.errorCode === 'SQLITE_NOTADB';
		return {
			name: 'ledger',
			status: 'fail',
			reason: damaged ? 'CONFIG' : 'IO',
			message: `${file} cannot be read: ${health.error}`,
			fix: damaged
				? rebuild
				: "Check that the file and its folder belong to the bot's user and that no other program holds it locked, then run doctor again.",
			details: { file, errorCode: health.errorCode }
		};
	}
	if (health.integrity.length !== 1 || health.integrity[0] !== 'ok') {
		return {
			name: 'ledger',
			status: 'fail',
			reason: 'CONFIG',
			message: `${file} is damaged (PRAGMA quick_check: ${health.integrity.join('; ')})`,
			fix: rebuild,
			details: { file, integrity: health.integrity, ...schema }
		};
	}
	const details = { file, integrity: health.integrity, journalMode: health.journalMode, ...schema };
	const refused = refusedLedger(
		file,
		health,
		storeId,
		details,
		"Two storage roots must not share a ledger: point QUOTA_LEDGER_URI at this root's own ledger (or leave it empty for <STORAGE_ROOT>/quota.sqlite)."
	);
	if (refused) return refused;
	const version = versionPhrase(health);
	const missing = health.missingTables.length > 0 && health.schemaVersion === health.currentVersion;
	if (missing) {
		return {
			name: 'ledger',
			status: 'warn',
			message: `${file} is sound but lacks the tables ${health.missingTables.join(', ')} (${version})`,
			fix: 'QUOTA_LEDGER_URI may point at another database: check it, or move the file aside and run `sapphire-imagine reconcile`.',
			details
		};
	}
	return { name: 'ledger', status: 'ok', message: `${file} is sound (quick_check ok, journal ${health.journalMode}, ${version})`, details };
}

/** `storeId`: the identity of the image store, when it has one (the ledger must describe that store). */
function checkPostgresLedger(health: PostgresLedgerHealth, storeId: string | null): CheckResult {
	const { location } = health;
	const details = { location, schemaVersion: health.schemaVersion, currentVersion: health.currentVersion };
	if (health.driverMissing) {
		return {
			name: 'ledger',
			status: 'fail',
			reason: 'CONFIG',
			message: health.error ?? 'pg is not installed',
			fix: 'npm install pg',
			details
		};
	}
	if (health.error !== undefined) {
		return {
			name: 'ledger',
			status: 'fail',
			reason: 'IO',
			message: `cannot read the ledger at ${location}: ${withoutPassword(health.error)}`,
			fix:
				'Check QUOTA_LEDGER_URI (host, port, database, user, password), that the server runs and accepts connections from this ' +
				'host, and TLS (?sslmode=require) if it needs it.',
			details: { ...details, ...(health.errorCode ? { errorCode: health.errorCode } : {}) }
		};
	}
	if (health.schemaVersion === 0) {
		return { name: 'ledger', status: 'ok', message: `${location} answers; no schema yet: the bot creates it when it starts`, details };
	}
	const refused = refusedLedger(
		location,
		health,
		storeId,
		details,
		'Two storages must not share a ledger: give each its own database or schema (QUOTA_LEDGER_URI), or the same STORAGE_URI.'
	);
	return refused ?? { name: 'ledger', status: 'ok', message: `${location} answers (${versionPhrase(health)})`, details };
}

interface LedgerIdentity {
	schemaVersion: number;
	currentVersion: number;
	storeId: string | null;
}

/** What the bot would refuse in a readable ledger, on either backend: a newer schema, or another storage's ledger. */
function refusedLedger(
	where: string,
	ledger: LedgerIdentity,
	storeId: string | null,
	details: Record<string, unknown>,
	otherStorageFix: string
): CheckResult | null {
	if (ledger.schemaVersion > ledger.currentVersion) {
		return {
			name: 'ledger',
			status: 'fail',
			reason: 'IO',
			message: `${where} has schema version ${ledger.schemaVersion}, newer than this version of sapphire-imagine understands (${ledger.currentVersion})`,
			fix: 'A newer sapphire-imagine wrote it: update this one (git pull, npm install) rather than let it refuse the ledger.',
			details
		};
	}
	if (ledger.storeId !== null && storeId !== null && ledger.storeId !== storeId) {
		return {
			name: 'ledger',
			status: 'fail',
			reason: 'CONFIG',
			message: `${where} belongs to another storage (store ${ledger.storeId}), not to this one (store ${storeId}): the bot would refuse it`,
			fix: otherStorageFix,
			details: { ...details, storeId: ledger.storeId, storageStoreId: storeId }
		};
	}
	return null;
}

function versionPhrase(ledger: LedgerIdentity): string {
	return ledger.schemaVersion === ledger.currentVersion
		? `schema version ${ledger.schemaVersion}`
		: `schema version ${ledger.schemaVersion}, upgraded to ${ledger.currentVersion} when the bot next starts`;
}

async function checkProvider(config: AppConfig, signal: AbortSignal | undefined): Promise<CheckResult> {
	const generator = ImageGenerator.create(config.generation);
	const described = generator.describe();
	let probe: ProviderProbe;
	try {
		probe = await generator.probe(signal ? { signal } : {});
	} finally {
		await generator.close().catch(() => undefined);
	}
	const name = described.configured && !described.preview ? `${described.provider} (${described.model})` : described.provider;
	const details = { provider: described.provider, model: described.model };
	if (probe.ok) {
		if (probe.credits !== undefined && probe.credits < LOW_CREDITS) {
			return {
				name: 'provider',
				status: 'warn',
				message: `${name}: ${probe.detail}, not enough for one generation`,
				fix: `Buy credits at ${CREDITS_PAGE}.`,
				details: { ...details, credits: probe.credits }
			};
		}
		const hint = described.preview ? ' (set STABILITY_API_KEY for real images)' : '';
		return {
			name: 'provider',
			status: 'ok',
			message: `${name}: ${probe.detail}${hint}`,
			details: probe.credits === undefined ? details : { ...details, credits: probe.credits }
		};
	}
	const status: CheckStatus = probe.reason === 'RATE_LIMITED' ? 'warn' : 'fail';
	// The failure messages are written for Discord members; the owner gets the plugin's own reason where there is one.
	const why = probe.reason === 'NOT_CONFIGURED' && generator.options.notConfigured ? generator.options.notConfigured : probe.message;
	return {
		name: 'provider',
		status,
		...(status === 'fail' ? { reason: probe.reason } : {}),
		message: `${name}: ${probe.reason}: ${why}`,
		fix: providerFix(described.provider, probe.reason, config),
		details
	};
}

function providerFix(provider: string, reason: string, config: AppConfig): string {
	const host = config.apiHost ?? (provider === 'automatic1111' ? 'http://127.0.0.1:7860' : 'https://api.stability.ai');
	if (reason === 'NOT_CONFIGURED') return `Set STABILITY_API_KEY (create one at ${KEYS_PAGE}), or IMAGE_PROVIDER=preview to run offline.`;
	if (provider === 'automatic1111') {
		if (reason === 'AUTH') return 'The web UI asks for credentials: set A1111_AUTH to the user:password given to its --api-auth.';
		return `Start the web UI with --api (e.g. ./webui.sh --api --listen) and check that API_HOST (${host}) is its address.`;
	}
	if (reason === 'AUTH') return `Stability refused STABILITY_API_KEY: create a key at ${KEYS_PAGE} and put it in .env.`;
	if (reason === 'RATE_LIMITED') return 'The key is being rate-limited right now (150 requests in 10 s): try again in a minute.';
	if (reason === 'PROVIDER_ERROR') return `Check API_HOST (${host}): unset, it is https://api.stability.ai.`;
	return `Check this machine's network and API_HOST (${host}).`;
}

const MARKS: Record<CheckStatus, string> = { ok: 'ok', warn: 'WARN', fail: 'FAIL', skipped: 'skip' };

function outcomeOf(checks: CheckResult[]): Outcome {
	const failed = checks.filter((check) => check.status === 'fail');
	const warned = checks.filter((check) => check.status === 'warn');
	const first = failed[0];
	const width = Math.max(...checks.map((check) => check.name.length));
	const lines = checks.flatMap((check) => {
		const [head, ...rest] = check.message.split('\n');
		return [
			`${MARKS[check.status].padEnd(4)}  ${check.name.padEnd(width)}  ${head ?? ''}`,
			...rest.map((line) => `${' '.repeat(width + 8)}${line}`),
			...(check.fix ? [`${' '.repeat(width + 8)}fix: ${check.fix}`] : [])
		];
	});
	const code = first ? exitCodeOf(first.reason ?? 'ERROR') : ExitCode.Ok;
	const summary = first
		? `${failed.length} check${failed.length === 1 ? '' : 's'} failed (${failed.map((check) => check.name).join(', ')}): exit code ${code}.`
		: `Ready${warned.length > 0 ? `, with ${warned.length} warning${warned.length === 1 ? '' : 's'}` : ''}.`;
	const json = first
		? { ok: false, reason: first.reason, message: `${first.name}: ${first.message.split('\n')[0] ?? ''}`, checks }
		: { ok: true, checks };
	return { code, json, text: [...lines, '', summary].join('\n') };
}
