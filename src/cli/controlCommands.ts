import type { BlockView, GuildSettings, ListedEntry } from '../plugins/storage/controls/Controls.js';
import type { GuildSettingsChange } from '../plugins/storage/ledger/QuotaLedger.js';
import { checkEntry } from '../plugins/storage/controls/promptBlocklist.js';
import { isSnowflake } from '../plugins/storage/ids.js';
import type { ServiceCommand } from './commands.js';
import { failed, succeeded } from './outcome.js';
import {
	guildIdOption,
	isoTimeOption,
	optionalString,
	requiredString,
	shown,
	userIdOption,
	wholeNumberOption,
	type ParsedValues
} from './options.js';
import { UsageError } from './usage.js';

/** The owners' controls, kept in the ledger: every process sharing it (the bot and its shards) applies a change. */

const guild = {
	type: 'string',
	valueName: 'ID',
	description: "A server's own list instead of the bot owner's (the server id, 17 to 20 digits)."
} as const;

const BLOCKLIST_ACTIONS = ['add', 'remove', 'list'] as const;

export const blocklist: ServiceCommand = {
	name: 'blocklist',
	summary: "Show or change the prompt blocklist (the owner's, or a server's with --guild)",
	synopsis: 'blocklist add|remove|list [WORD...] [--guild ID]',
	description: [
		'A prompt that contains an entry as a whole word or phrase is refused (PROMPT_BLOCKED) before anything is reserved or paid for; ' +
			'matching ignores case and accents, folds full-width and look-alike letters of other scripts, and joins words spelt out letter by ' +
			'letter ("n u d e"). A word that merely contains an entry is not blocked ("classic" for "ass"). Quote a phrase as one WORD. ' +
			"An entry written /.../ is a regular expression, on the bot owner's list only. PROMPT_BLOCKLIST adds entries from the configuration.",
		'Entries are stored in normal form (lower case, accents stripped). Other processes (the bot) apply a change within 2 s.',
		'With --json: { ok: true, guildId, entries: [{ entry, source: "config" | "owner" | "server" }], added? | removed?, notFound? }.'
	],
	options: { guild },
	takesWords: true,
	prepare(values, words) {
		const [action, ...entries] = words;
		if (!BLOCKLIST_ACTIONS.includes(action as (typeof BLOCKLIST_ACTIONS)[number])) {
			throw new UsageError(
				action === undefined ? 'Say what to do: add, remove or list.' : `Unknown action ${shown(action)}: expected add, remove or list.`
			);
		}
		const guildId = guildIdOption(values);
		if (action === 'list' && entries.length > 0) throw new UsageError('list takes no words.');
		if (action !== 'list') {
			if (entries.length === 0) throw new UsageError(`Give the words to ${action}.`);
			for (const entry of entries) {
				const checked = checkEntry(entry, guildId === null);
				if (!checked.ok) throw new UsageError(`Not a blocklist entry: ${checked.problem}.`);
			}
		}
		return async ({ services }) => {
			const controls = services.storage.controls;
			const whose = guildId ? `server ${guildId}` : 'the bot owner';
			if (action === 'add') {
				const changed = await controls.addToBlocklist(entries, guildId);
				if (!changed.ok) return failed(changed);
				const head = `Added ${changed.added.length} entr${changed.added.length === 1 ? 'y' : 'ies'} to the blocklist of ${whose}.`;
				return succeeded(changed, `${head}\n${listText(changed.entries)}`);
			}
			if (action === 'remove') {
				const changed = await controls.removeFromBlocklist(entries, guildId);
				if (!changed.ok) return failed(changed);
				const missing = changed.notFound.length > 0 ? `\nNot on the list: ${changed.notFound.join(', ')}.` : '';
				const head = `Removed ${changed.removed.length} entr${changed.removed.length === 1 ? 'y' : 'ies'} from the blocklist of ${whose}.`;
				return succeeded(changed, `${head}${missing}\n${listText(changed.entries)}`);
			}
			const listed = await controls.blocklist(guildId);
			if (!listed.ok) return failed(listed);
			return succeeded(listed, `The blocklist of ${whose}:\n${listText(listed.entries)}`);
		};
	}
};

const user = { type: 'string', valueName: 'ID', description: 'The Discord user id (17 to 20 digits).' } as const;
const blockGuild = { ...guild, description: "Block in this server only (its admins' block) instead of bot-wide." } as const;

export const block: ServiceCommand = {
	name: 'block',
	summary: 'Stop a user from generating, bot-wide or in one server (--guild)',
	synopsis: 'block --user ID [--reason TEXT] [--until ISO-TIME] [--guild ID]',
	description: [
		'A blocked user is refused (USER_BLOCKED, exit 3 for generate) before anything else is checked, with the reason and the end ' +
			'if given. Blocking again replaces the reason and the end. --until is a day (2026-12-24: its 00:00 UTC) or a time with its ' +
			'zone (2026-12-24T18:00Z) in the future; without it the block lasts until `unblock`. Other processes apply it at once.',
		'With --json: { ok: true, block: { userId, guildId, reason, until, blockedAt } }.'
	],
	options: {
		user,
		reason: { type: 'string', valueName: 'TEXT', description: 'Why, shown to the user (one line, at most 200 characters).' },
		until: { type: 'string', valueName: 'ISO-TIME', description: 'When the block ends (default: until unblock).' },
		guild: blockGuild
	},
	prepare(values) {
		const userId = userIdOption(values);
		const guildId = guildIdOption(values);
		const until = isoTimeOption(values, 'until');
		const reason = optionalString(values, 'reason');
		return async ({ services }) => {
			const blocked = await services.storage.controls.block(userId, { reason, until, guildId });
			if (!blocked.ok) return failed(blocked);
			return succeeded(blocked, `Blocked ${blockText(blocked.block)}.`);
		};
	}
};

export const unblock: ServiceCommand = {
	name: 'unblock',
	summary: "Lift a user's block (bot-wide, or in one server with --guild)",
	synopsis: 'unblock --user ID [--guild ID]',
	description: [
		'Lifts the block set with `block` (the same --guild, or none for the bot-wide one). A user who was not blocked is not an error.',
		'With --json: { ok: true, userId, guildId, lifted: { ...the block } | null, blocked: { ...the block still in force } | null }.'
	],
	options: { user, guild: { ...guild, description: 'Lift the block of this server instead of the bot-wide one.' } },
	prepare(values) {
		const userId = userIdOption(values);
		const guildId = guildIdOption(values);
		return async ({ services }) => {
			const controls = services.storage.controls;
			const lifted = await controls.unblock(userId, guildId);
			if (!lifted.ok) return failed(lifted);
			const still = await controls.blockOf(userId, guildId);
			const head = lifted.lifted ? `Lifted the block of ${blockText(lifted.lifted)}.` : `User ${userId} was not blocked ${where(guildId)}.`;
			const tail = still ? `\nStill blocked: ${blockText(still)}.` : '';
			return succeeded({ ok: true, userId, guildId, lifted: lifted.lifted, blocked: still }, `${head}${tail}`);
		};
	}
};

export const settings: ServiceCommand = {
	name: 'settings',
	summary: "Show or change a server's settings (what its admins set with /imagine-settings)",
	synopsis:
		'settings --guild ID [--enabled on|off] [--channels ID,ID|all] [--roles ID,ID|all] [--member-daily N|none] [--server-daily N|none] ' +
		'[--nsfw-lax true|false]',
	description: [
		'Without changes: shows the settings in force. --enabled off stops generation in the server (NOT_HERE). --channels limits ' +
			'generation to those channels, --roles to members with one of those roles (all: no restriction). --member-daily sets the ' +
			"generations per member per UTC day in the server: the lower of it and the user's own limit (default, tier or override) " +
			"applies, so a server can only tighten (none: the user's own). --server-daily caps the generations of all members together " +
			"per UTC day (none: no total). --nsfw-lax true gives the server's age-restricted (NSFW) channels the laxer setting: its own " +
			"blocklist is not applied there (the owner's is) and OpenAI gpt-image models get moderation: low; only while ALLOW_NSFW_LAX is " +
			'true (otherwise refused, exit 2). A setting left out keeps its value. Other processes apply a change within 2 s.',
		'With --json: { ok: true, settings: { guildId, enabled, channelIds, roleIds, memberDailyGens, guildDailyGens, nsfwLax } }.'
	],
	options: {
		guild: { type: 'string', valueName: 'ID', description: 'The server id (17 to 20 digits).' },
		enabled: { type: 'string', valueName: 'on|off', description: 'Generation on or off in the server.' },
		channels: { type: 'string', valueName: 'ID,ID|all', description: 'The channels where generation works, or all.' },
		roles: { type: 'string', valueName: 'ID,ID|all', description: 'The roles allowed to generate, or all.' },
		'member-daily': { type: 'string', valueName: 'N|none', description: 'Generations per member per UTC day here, or none.' },
		'server-daily': { type: 'string', valueName: 'N|none', description: 'Generations per UTC day here, all members together, or none.' },
		'nsfw-lax': { type: 'string', valueName: 'true|false', description: 'The laxer setting in its age-restricted channels.' }
	},
	prepare(values) {
		requiredString(values, 'guild', 'ID');
		const guildId = guildIdOption(values) as string;
		const changes = settingsChanges(values);
		return async ({ services }) => {
			const controls = services.storage.controls;
			const changed = Object.keys(changes).length > 0;
			if (changed) {
				const result = await controls.changeSettings(guildId, changes);
				if (!result.ok) return failed(result);
			}
			const current = await controls.settingsOf(guildId);
			return succeeded({ ok: true, settings: current }, `${changed ? 'Changed. ' : ''}${settingsText(current, controls.nsfwLaxAllowed)}`);
		};
	}
};

export const budget: ServiceCommand = {
	name: 'budget',
	summary: "Today's provider-credit spend and budgets; set the bot's (--global N), a user's (--user ID N) or a server's (--guild ID N)",
	synopsis: 'budget [--global N] [--user ID [N]] [--guild ID [N]]',
	description: [
		"Credits are charged through the job's reservation, commit and release, like the daily count: reserved while a job runs, spent " +
			'when its image is stored, given back when the provider charged nothing (a failure, a filtered image). A job that would take ' +
			"the bot, the user or the server it is asked from past today's budget is refused (CREDIT_BUDGET, exit 3 for generate). " +
			'--global N, --user ID N and --guild ID N set a budget in credits (decimals allowed; none: back to DAILY_CREDIT_BUDGET, ' +
			'USER_DAILY_CREDIT_BUDGET or GUILD_DAILY_CREDIT_BUDGET), kept in the ledger.',
		'With --json: { ok: true, day, global: { spent, reserved, budget } }, with --user also user: { id, spent, reserved, budget }, ' +
			'with --guild also guild: { id, spent, reserved, budget } (budget null: none).'
	],
	options: {
		global: { type: 'string', valueName: 'N', description: "Set the bot's daily budget in credits (none: the configuration's)." },
		user: { type: 'string', valueName: 'ID', description: "Show this user's spend too; with N after it, set their daily budget." },
		guild: {
			type: 'string',
			valueName: 'ID',
			description: "Show this server's spend too (all its members together); with N after it, set its daily budget."
		}
	},
	takesWords: true,
	prepare(values, words) {
		const userId = values.user === undefined ? undefined : userIdOption(values);
		const guildId = guildIdOption(values) ?? undefined;
		if (words.length > 1 || (words.length === 1 && userId === undefined && guildId === undefined)) {
			throw new UsageError('Give one budget, after --user ID or --guild ID (budget --user ID N, budget --guild ID N).');
		}
		if (words.length === 1 && userId !== undefined && guildId !== undefined) {
			throw new UsageError('Give the budget after one of --user ID and --guild ID: set them one at a time.');
		}
		const globalBudget = creditsWord(optionalString(values, 'global'), '--global');
		const scopedBudget = creditsWord(words[0], userId === undefined ? '--guild ID' : '--user ID');
		// Shown: the user and the server given; set by the word after them: the one given (never both, checked above).
		const shownScope = { ...(userId === undefined ? {} : { userId }), ...(guildId === undefined ? {} : { guildId }) };
		return async ({ services }) => {
			const credits = services.storage.credits;
			if (globalBudget !== undefined) {
				const set = await credits.setBudget(globalBudget);
				if (!set.ok) return failed(set);
			}
			if (scopedBudget !== undefined) {
				const set = await credits.setBudget(scopedBudget, shownScope);
				if (!set.ok) return failed(set);
			}
			const today = await credits.today(shownScope);
			if (!today.ok) return failed(today);
			const line = (name: string, entry: { spent: number; reserved: number; budget: number | null }) =>
				`${name}: ${entry.spent} credits spent, ${entry.reserved} reserved, budget ${entry.budget ?? 'none'}`;
			const text = [
				`Today (${today.day} UTC):`,
				`  ${line('Bot', today.global)}`,
				...(today.user ? [`  ${line(`User ${today.user.id}`, today.user)}`] : []),
				...(today.guild ? [`  ${line(`Server ${today.guild.id}`, today.guild)}`] : [])
			];
			// The shape the issue gives, { day, global, user? }: the state itself, without the `ok` of a service result.
			const { ok: _ok, ...state } = today;
			return succeeded(state, text.join('\n'));
		};
	}
};

/** A budget written plainly (`100`, `2.5`), or `none` (null); undefined when not given. */
function creditsWord(value: string | undefined, name: string): number | null | undefined {
	if (value === undefined) return undefined;
	if (value.trim() === 'none') return null;
	const number = /^\d{1,10}(?:\.\d{1,3})?$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
	if (!Number.isFinite(number))
		throw new UsageError(`${name}: expected a number of credits (up to 3 decimals) or none, got ${shown(value)}.`);
	return number;
}

function settingsChanges(values: ParsedValues): GuildSettingsChange {
	const changes: GuildSettingsChange = {};
	const enabled = optionalString(values, 'enabled');
	if (enabled !== undefined) {
		if (enabled !== 'on' && enabled !== 'off') throw new UsageError(`--enabled: expected on or off, got ${shown(enabled)}.`);
		changes.enabled = enabled === 'on';
	}
	for (const [name, field] of [
		['channels', 'channelIds'],
		['roles', 'roleIds']
	] as const) {
		const raw = optionalString(values, name);
		if (raw === undefined) continue;
		if (raw.trim() === 'all') {
			changes[field] = null;
			continue;
		}
		const ids = raw
			.split(',')
			.map((id) => id.trim())
			.filter(Boolean);
		const bad = ids.find((id): boolean => !isSnowflake(id));
		if (ids.length === 0 || bad !== undefined) {
			throw new UsageError(`--${name}: expected comma-separated Discord ids or all, got ${shown(bad ?? raw)}.`);
		}
		changes[field] = ids;
	}
	const nsfwLax = optionalString(values, 'nsfw-lax');
	if (nsfwLax !== undefined) {
		if (nsfwLax !== 'true' && nsfwLax !== 'false') throw new UsageError(`--nsfw-lax: expected true or false, got ${shown(nsfwLax)}.`);
		changes.nsfwLax = nsfwLax === 'true';
	}
	for (const [name, field] of [
		['member-daily', 'memberDailyGens'],
		['server-daily', 'guildDailyGens']
	] as const) {
		const daily = optionalString(values, name);
		if (daily !== undefined) changes[field] = daily.trim() === 'none' ? null : (wholeNumberOption(values, name, 0, 1_000_000) ?? null);
	}
	return changes;
}

function settingsText(current: GuildSettings, nsfwLaxAllowed: boolean): string {
	const list = (ids: string[] | null, every: string) => (ids ? ids.join(', ') : every);
	return [
		`Server ${current.guildId}: generation ${current.enabled ? 'on' : 'off'}.`,
		`  Channels: ${list(current.channelIds, 'all')}`,
		`  Roles: ${list(current.roleIds, 'everyone')}`,
		`  Daily limit per member: ${current.memberDailyGens ?? "the user's own"}`,
		`  Daily total of the server: ${current.guildDailyGens ?? 'none'}`,
		`  Laxer setting in age-restricted channels: ${current.nsfwLax ? (nsfwLaxAllowed ? 'on' : 'on, without effect (ALLOW_NSFW_LAX is false)') : 'off'}`
	].join('\n');
}

function where(guildId: string | null): string {
	return guildId ? `in server ${guildId}` : 'bot-wide';
}

function blockText(view: BlockView): string {
	const until = view.until ? ` until ${view.until.toISOString()}` : ' until lifted';
	return `user ${view.userId} ${where(view.guildId)}${until}${view.reason ? ` (${view.reason})` : ''}`;
}

function listText(entries: readonly ListedEntry[]): string {
	if (entries.length === 0) return '  (empty)';
	return entries.map((row) => `  ${row.entry}${row.source === 'config' ? '  (PROMPT_BLOCKLIST)' : ''}`).join('\n');
}
