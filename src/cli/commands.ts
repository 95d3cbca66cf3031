import type { ConfigError } from '../lib/config.js';
import type { Services } from '../lib/services.js';
import type { JobStatus } from '../plugins/generation/ImageJobs.js';
import { doctor } from './doctor.js';
import { block, blocklist, budget, settings, unblock } from './controlCommands.js';
import { ExitCode } from './exitCodes.js';
import { formatImages, formatLimitsSource, formatReconcile, formatReport, formatStatus } from './format.js';
import { formatBytes } from '../plugins/storage/units.js';
import type { CliIo } from './io.js';
import {
	guildIdOption,
	imageIdOption,
	megabytesOption,
	optionalString,
	requiredString,
	roleIdsOption,
	userIdOption,
	wholeNumberOption,
	type OptionSpecs,
	type ParsedValues
} from './options.js';
import { failed, succeeded, type Outcome } from './outcome.js';
import { withProgress } from './progress.js';
import { UsageError } from './usage.js';

export interface CommandContext {
	services: Services;
	io: CliIo;
}

/** What a command that runs before the configuration is loaded gets (doctor: it checks the configuration itself). */
export interface EnvironmentContext {
	io: CliIo;
	/** The environment with `.env` filled in, or why `.env` could not be read. */
	environment: NodeJS.ProcessEnv | ConfigError;
}

export type { Outcome } from './outcome.js';

interface CommandDescription {
	name: string;
	/** One line for the command list. */
	summary: string;
	/** The usage line after `sapphire-imagine `. */
	synopsis: string;
	/** Paragraphs of --help. */
	description: string[];
	options: OptionSpecs;
	/** The command takes words beside its options (`blocklist add WORD...`). */
	takesWords?: boolean;
}

/** A command that works on the bot's services, opened from a valid configuration. */
export interface ServiceCommand extends CommandDescription {
	standalone?: false;
	/** Checks the options (a mistake throws a UsageError before any service opens) and returns the work to run. */
	prepare(values: ParsedValues, words: readonly string[]): (context: CommandContext) => Promise<Outcome>;
}

/** A command that must run even when the configuration or the storage is broken: it opens what it needs itself. */
export interface StandaloneCommand extends CommandDescription {
	standalone: true;
	prepare(values: ParsedValues): (context: EnvironmentContext) => Promise<Outcome>;
}

export type CliCommand = ServiceCommand | StandaloneCommand;

const user = { type: 'string', valueName: 'ID', description: 'The Discord user id (17 to 20 digits).' } as const;
const roles = {
	type: 'string',
	valueName: 'ID,ID',
	description: "The member's role ids, comma-separated: they pick a role tier (ROLE_TIERS), as in Discord."
} as const;

const status: ServiceCommand = {
	name: 'status',
	summary: "A user's storage, today's generations and the limits in force",
	synopsis: 'status --user ID [--roles ID,ID] [--guild ID]',
	description: [
		"Shows a user's quota status: what the bot's /quota shows (with --guild, as that server's member: its daily limit per member " +
			'applies when it is lower). With --json, the quota status object.'
	],
	options: { user, roles, guild: { type: 'string', valueName: 'ID', description: 'As a member of this server (its daily limit).' } },
	prepare(values) {
		const userId = userIdOption(values);
		const roleIds = roleIdsOption(values);
		const guildId = guildIdOption(values);
		return async ({ services }) => {
			const quota = await services.storage.getQuotaStatus(userId, { roleIds, guildId });
			return succeeded(quota, formatStatus(userId, quota));
		};
	}
};

const generate: ServiceCommand = {
	name: 'generate',
	summary: 'Generate an image for a user and store it (the guarded job)',
	synopsis: 'generate --user ID --prompt TEXT [--style S] [--seed N] [options]',
	description: [
		"Runs the bot's generation job: reserves the user's quota (atomically, before any paid call), asks the configured provider " +
			'(IMAGE_PROVIDER: stability, automatic1111, comfyui, openai; the offline `preview` needs no key), stores the image with its ' +
			'metadata and charges the daily allowance. A failure or Ctrl+C refunds the reservation and stores nothing (a ComfyUI prompt ' +
			'is taken off its queue).',
		'With --json: { ok: true, image: { id, path, bytes, ..., unusedInputs?, usage? }, status } or { ok: false, reason, message }; ' +
			'unusedInputs lists what the provider could not use (OpenAI: seed, negativePrompt), usage its token counts. ' +
			'Exit code 3 when a control or a quota denies it (USER_BLOCKED, NOT_HERE, PROMPT_BLOCKED, TOO_MANY_JOBS, DAILY_LIMIT, ' +
			'USER_QUOTA, GLOBAL_QUOTA, CREDIT_BUDGET), 4 when the provider fails, 2 for invalid input.'
	],
	options: {
		user,
		prompt: { type: 'string', valueName: 'TEXT', description: 'What to draw.' },
		style: { type: 'string', valueName: 'S', description: 'A style preset, e.g. analog-film, anime, photographic.' },
		seed: { type: 'string', valueName: 'N', description: 'Seed (0 or absent: random); the same seed redraws the same image.' },
		negative: { type: 'string', valueName: 'TEXT', description: 'What to keep out of the image.' },
		width: { type: 'string', valueName: 'PX', description: 'Width in pixels (64 to 4096); the provider may snap it.' },
		height: { type: 'string', valueName: 'PX', description: 'Height in pixels (64 to 4096).' },
		aspect: {
			type: 'string',
			valueName: 'W:H',
			description: 'Aspect ratio, e.g. 16:9 (wins over width and height where the provider uses ratios).'
		},
		temp: { type: 'boolean', description: 'Store as a temp file (global cap only; removed by cleanup after STORAGE_CLEANUP_DAYS).' },
		roles,
		guild: { type: 'string', valueName: 'ID', description: "Act as a member of this server: the server's own controls apply." },
		channel: { type: 'string', valueName: 'ID', description: "With --guild: the channel it is asked in (the server's channel gate)." }
	},
	prepare(values) {
		const userId = userIdOption(values);
		const roleIds = roleIdsOption(values);
		const prompt = requiredString(values, 'prompt', 'TEXT');
		const request = {
			prompt,
			negativePrompt: optionalString(values, 'negative'),
			stylePreset: optionalString(values, 'style'),
			seed: wholeNumberOption(values, 'seed', 0, Number.MAX_SAFE_INTEGER),
			width: wholeNumberOption(values, 'width', 1, Number.MAX_SAFE_INTEGER),
			height: wholeNumberOption(values, 'height', 1, Number.MAX_SAFE_INTEGER),
			aspectRatio: optionalString(values, 'aspect')
		};
		const temp = values.temp === true;
		const guildId = guildIdOption(values);
		const channelId = guildIdOption(values, 'channel', 'channel');
		if (channelId && !guildId) throw new UsageError('--channel needs --guild: a channel belongs to a server.');
		return async ({ services, io }) => {
			const result = await withProgress(io, 'reserving quota', (progress) =>
				services.jobs.run({
					kind: 'text-to-image',
					userId,
					roleIds,
					guildId,
					channelId,
					temp,
					request,
					...(io.signal ? { signal: io.signal } : {}),
					onStatus: (state) => progress.update(statusLine(state))
				})
			);
			if (!result.ok) return failed(result);
			if (!result.stored || !result.status) throw new Error('the generation job ran without storage');
			const { width, height, seed, provider, model, preview, unusedInputs, usage } = result.image;
			const image = {
				...result.stored,
				width,
				height,
				seed,
				provider,
				model,
				preview,
				...(unusedInputs?.length ? { unusedInputs } : {}),
				...(usage ? { usage } : {})
			};
			const { daily } = result.status;
			const seedText = unusedInputs?.includes('seed') ? 'no seed' : `seed ${seed}`;
			const text = [
				`Saved image ${image.id} for user ${userId}: ${formatBytes(image.bytes)}, ${width}x${height}, ${seedText}, ${provider}/${model}` +
					(preview ? ' (offline preview placeholder, not AI-generated)' : ''),
				`  ${image.path}`,
				...(unusedInputs?.length ? [`Not used by ${provider}: ${unusedInputs.join(', ')}.`] : []),
				`Today: ${daily.used} of ${daily.limit} generations used, ${daily.remaining} left.`
			].join('\n');
			return succeeded({ ok: true, image, status: result.status }, text);
		};
	}
};

/** The progress line of a job: its queue place, its steps while it generates (ComfyUI), saving. */
function statusLine(status: JobStatus): string {
	switch (status.state) {
		case 'queued':
			return `queued (position ${status.position})`;
		case 'generating':
			return status.progress ? `generating (step ${status.progress.value}/${status.progress.max})` : 'generating';
		case 'saving':
			return 'saving';
	}
}

const images: ServiceCommand = {
	name: 'images',
	summary: "List a user's saved images, newest first",
	synopsis: 'images --user ID',
	description: ["Lists a user's saved images (not temp files), newest first, from the ledger. With --json: { ok: true, images }."],
	options: { user },
	prepare(values) {
		const userId = userIdOption(values);
		return async ({ services }) => {
			const listed = await services.storage.getUserImages(userId);
			if (!listed.ok) return failed(listed);
			return succeeded(listed, formatImages(userId, listed.images));
		};
	}
};

const remove: ServiceCommand = {
	name: 'delete',
	summary: "Delete one of a user's images",
	synopsis: 'delete --user ID --image IMAGE_ID',
	description: [
		"Deletes one of the user's images (its file and metadata) and gives its bytes back. Another user's image is NOT_FOUND. " +
			'With --json: { ok: true, image, freedMb } or { ok: false, reason, message }; exit code 1 when it is not there.'
	],
	options: { user, image: { type: 'string', valueName: 'IMAGE_ID', description: 'The image id, as `images` lists it.' } },
	prepare(values) {
		const userId = userIdOption(values);
		const imageId = imageIdOption(values);
		return async ({ services }) => {
			const deleted = await services.storage.deleteImage(userId, imageId);
			if (!deleted.ok) return failed(deleted);
			return succeeded(deleted, `Deleted image ${deleted.image.id} of user ${userId}: ${deleted.freedMb} MB freed.`);
		};
	}
};

const cleanup: ServiceCommand = {
	name: 'cleanup',
	summary: 'Remove temp files older than STORAGE_CLEANUP_DAYS',
	synopsis: 'cleanup',
	description: [
		'Removes temp files older than STORAGE_CLEANUP_DAYS (what the bot does every CLEANUP_INTERVAL_MINUTES), for cron. ' +
			'With --json: { deleted, freedMb }.'
	],
	options: {},
	prepare() {
		return async ({ services, io }) => {
			const result = await withProgress(io, 'cleaning up temp files', () => services.storage.cleanupOldFiles());
			const days = services.storage.options.cleanupDays;
			return succeeded(result, `Removed ${result.deleted} temp file(s) older than ${days} day(s): ${result.freedMb} MB freed.`);
		};
	}
};

const reconcile: ServiceCommand = {
	name: 'reconcile',
	summary: 'Rebuild the quota ledger from the image store',
	synopsis: 'reconcile',
	description: [
		'Walks the image store (the storage root, or the bucket of STORAGE_URI) and corrects the ledger: images it did not know, rows whose image is gone, ' +
			'wrong sizes and totals, leftovers of interrupted writes (at once when their process is dead, else after an hour), uploads to a bucket whose commit ' +
			'never happened (after a minute, once their process is gone) and reservations of jobs that died. Safe while the bot and other reconciles run. ' +
			'With --json: { added, removed, resized, totalsFixed, partialsRemoved, orphansRemoved, reservationsReleased, countsRestored, ignored, files, durationMs }.'
	],
	options: {},
	prepare() {
		return async ({ services, io }) => {
			const report = await withProgress(io, 'reconciling the ledger with the disk', () => services.storage.reconcile());
			return succeeded(report, formatReconcile(report));
		};
	}
};

const report: ServiceCommand = {
	name: 'report',
	summary: 'Global use, temp files, the users storing the most, credits spent',
	synopsis: 'report [--top N]',
	description: [
		'With --json: { global, tempFiles, topUsers: [{ userId, bytes, files, usedMb }], credits: { today: { spent, reserved, budget }, ' +
			'last30Days: [{ day, spent }] } }.'
	],
	options: { top: { type: 'string', valueName: 'N', description: 'How many users to list (default 10).' } },
	prepare(values) {
		const top = wholeNumberOption(values, 'top', 0, 10_000) ?? 10;
		return async ({ services }) => {
			const result = await services.storage.getReport(top);
			return succeeded(result, formatReport(result, top));
		};
	}
};

const reset: ServiceCommand = {
	name: 'reset',
	summary: "Give back today's allowance, or delete all of a user's saved images",
	synopsis: 'reset --user ID [--daily] [--storage]',
	description: [
		"--daily gives the user today's generations back. --storage deletes every saved image of the user (an admin action: " +
			'each one is listed). Give one or both.',
		'With --json: { ok, userId, daily: { previous } | null, storage: { deleted: [image, ...], missing: [id, ...], failed: [{ reason, message }], freedMb } | null, status }.'
	],
	options: {
		user,
		daily: { type: 'boolean', description: "Reset today's generation count to 0." },
		storage: { type: 'boolean', description: "Delete all of the user's saved images." }
	},
	prepare(values) {
		const userId = userIdOption(values);
		const daily = values.daily === true;
		const storage = values.storage === true;
		if (!daily && !storage) throw new UsageError('Say what to reset: --daily, --storage, or both.');
		return async ({ services }) => {
			const reset = await services.storage.resetUser(userId, { daily, storage });
			if (!reset.ok) return failed(reset);
			const lines: string[] = [];
			const dailyResult = reset.daily;
			const storageResult = reset.storage;
			if (dailyResult) lines.push(`Gave user ${userId} today's allowance back (${dailyResult.previous} generation(s) had been used).`);
			if (storageResult) {
				for (const image of storageResult.deleted) lines.push(`Deleted ${image.id} (${formatBytes(image.bytes)}) ${image.path}`);
				// Listed but its file was already gone (or deleted meanwhile): the ledger row is dropped, nothing else to do.
				for (const id of storageResult.missing) lines.push(`Already gone: ${id}`);
				for (const failure of storageResult.failed) lines.push(`Could not delete an image: ${failure.reason}: ${failure.message}`);
				lines.push(`Deleted ${storageResult.deleted.length} image(s) of user ${userId}: ${storageResult.freedMb} MB freed.`);
			}
			const quota = await services.storage.getQuotaStatus(userId);
			const ok = (storageResult?.failed.length ?? 0) === 0;
			return {
				code: ok ? ExitCode.Ok : ExitCode.Failure,
				json: { ok, userId, daily: dailyResult, storage: storageResult, status: quota },
				text: lines.join('\n')
			};
		};
	}
};

const limits: ServiceCommand = {
	name: 'limits',
	summary: "Show a user's limits, or set or clear an override",
	synopsis: 'limits --user ID [--daily N] [--storage-mb N] [--clear]',
	description: [
		'Without --daily, --storage-mb or --clear: shows the limits in force for the user and where they come from. ' +
			"With them: sets the user's override, which wins over role tiers and the defaults and survives restarts. " +
			'A limit left out keeps its earlier override. Other processes (the bot) see a change within 2 s.',
		'With --json: { ok: true, userId, changed: "set" | "cleared" | null, limits: { dailyGens, storageMb, source, tierName? }, status }.'
	],
	options: {
		user,
		daily: { type: 'string', valueName: 'N', description: 'Generations per UTC day (0 stops the user from generating).' },
		'storage-mb': { type: 'string', valueName: 'N', description: 'Storage for saved images, in MB (1 MB = 1,048,576 bytes).' },
		clear: { type: 'boolean', description: 'Remove the override: tiers and defaults apply again.' },
		roles
	},
	prepare(values) {
		const userId = userIdOption(values);
		const roleIds = roleIdsOption(values);
		const dailyGens = wholeNumberOption(values, 'daily', 0, 1_000_000);
		const storageMb = megabytesOption(values, 'storage-mb');
		const clear = values.clear === true;
		if (clear && (dailyGens !== undefined || storageMb !== undefined))
			throw new UsageError('--clear cannot be combined with --daily or --storage-mb.');
		const change = clear ? 'cleared' : dailyGens !== undefined || storageMb !== undefined ? 'set' : null;
		return async ({ services }) => {
			if (change) {
				const override = clear
					? null
					: { ...(dailyGens === undefined ? {} : { dailyGens }), ...(storageMb === undefined ? {} : { storageMb }) };
				const updated = await services.storage.setUserLimits(userId, override);
				if (!updated.ok) return failed(updated);
			}
			const quota = await services.storage.getQuotaStatus(userId, { roleIds });
			const effective = { dailyGens: quota.daily.limit, storageMb: quota.user.limitMb, ...quota.limits };
			const head =
				change === 'cleared'
					? `Cleared the override of user ${userId}.\n`
					: change === 'set'
						? `Set an override for user ${userId}.\n`
						: '';
			const text = `${head}User ${userId}: ${effective.dailyGens} generations a day, ${effective.storageMb} MB of storage; from ${formatLimitsSource(quota.limits)}.`;
			return succeeded({ ok: true, userId, changed: change, limits: effective, status: quota }, text);
		};
	}
};

/** Every command, in the order --help lists them. */
export const commands: readonly CliCommand[] = [
	status,
	generate,
	images,
	remove,
	cleanup,
	reconcile,
	report,
	reset,
	limits,
	blocklist,
	block,
	unblock,
	settings,
	budget,
	doctor
];
