import type { Clock } from '../clock.js';
import type { EventLog } from '../EventLog.js';
import { isSnowflake } from '../ids.js';
import type { BlockRow, GateExpectation, GuildSettingsChange, GuildSettingsRow, QuotaLedger } from '../ledger/QuotaLedger.js';
import type { StorageMessages } from '../StorageMessages.js';
import { failure, type StorageFailure, type StorageResult } from '../StorageResult.js';
import { checkEntry, compileBlocklist, type CompiledBlocklist } from './promptBlocklist.js';

/** Lists are read on every job; other processes' changes are picked up within this time (as overrides are). */
const LIST_CACHE_MS = 2000;
/** A server's own list holds at most this many entries (each one is tested against every prompt there). */
export const MAX_GUILD_ENTRIES = 500;
/** A block's reason is shown to the user it blocks: a sentence, not a file. */
export const MAX_BLOCK_REASON_LENGTH = 200;

/** What a request is, as far as the controls look at it. */
export interface ScreenRequest {
	userId: string;
	/** The server it comes from; none in a DM or from the command-line tool without --guild. */
	guildId?: string | null;
	/** The prompt, when the job has one (an upscale has none). */
	prompt?: string | null;
	/** The channel it comes from, for the server's channel gate; none from the command-line tool (no channel gate then). */
	channelId?: string | null;
	/** The member's role ids, for the server's role gate. */
	roleIds?: readonly string[];
	/**
	 * Whether Discord marks the channel age-restricted (NSFW; a thread takes its parent's flag), for the server's laxer
	 * setting there. Never in a DM or from the command-line tool.
	 */
	ageRestricted?: boolean;
}

/** A server's settings as they apply (the defaults where its admins set nothing). */
export type GuildSettings = GuildSettingsRow;

/**
 * An edit of a gate is tried again this many times while other edits of the same gate keep landing first, after a
 * short random pause that grows with each try (so edits racing in step fall out of step).
 */
const GATE_ATTEMPTS = 25;
const GATE_PAUSE_MS = 5;
const GATE_RACE = "The server's settings were being changed by someone else at the same moment; nothing was changed. Try again.";

/** At most this many channels or roles in a server's gate. */
export const MAX_GATE_IDS = 50;

/** Whose list an entry is on: the bot owner's (configuration or ledger) or a server's. */
export type ListSource = 'config' | 'owner' | 'server';

export interface ListedEntry {
	entry: string;
	source: ListSource;
}

export interface BlocklistView {
	/** The server whose list this is, or null for the bot owner's list. */
	guildId: string | null;
	entries: ListedEntry[];
}

/** A block as the controls show it: bot-wide (`guildId` null) or in one server. */
export interface BlockView {
	userId: string;
	guildId: string | null;
	reason: string | null;
	/** When it ends; null: until lifted. */
	until: Date | null;
	blockedAt: Date;
}

export interface BlockRequest {
	/** Shown to the user when they are refused. */
	reason?: string | null;
	/** When the block ends; absent or null: until lifted. Must be in the future. */
	until?: Date | null;
	/** Within one server only (its admins' block); absent: bot-wide (the owner's). */
	guildId?: string | null;
}

export interface ControlsOptions {
	/** The bot owner's entries from the configuration (PROMPT_BLOCKLIST), checked already. */
	promptBlocklist: readonly string[];
	/** Whether servers may give their age-restricted channels the laxer setting (ALLOW_NSFW_LAX). */
	allowNsfwLax?: boolean;
}

/** Where a server turns the laxer setting on while the bot's owner does not allow it. */
export const NSFW_LAX_FORBIDDEN =
	"The bot's owner does not allow a laxer setting in age-restricted channels on this bot (ALLOW_NSFW_LAX): nothing was changed.";

/**
 * The owners' controls: the rules that refuse a request before anything is reserved or paid for, and their
 * settings, kept in the ledger so every process sharing it applies the same ones. Every refusal is a value with
 * its reason, and a denial event in the log; the user's words never come back in it.
 */
export class Controls {
	readonly #ledger: () => QuotaLedger;
	readonly #clock: Clock;
	readonly #events: EventLog;
	readonly #messages: StorageMessages;
	readonly #configEntries: readonly string[];
	/** Whether servers may give their age-restricted channels the laxer setting (ALLOW_NSFW_LAX). */
	public readonly nsfwLaxAllowed: boolean;
	readonly #lists = new Map<string, { list: CompiledBlocklist; until: number }>();
	readonly #settings = new Map<string, { settings: GuildSettings; until: number }>();

	public constructor(ledger: () => QuotaLedger, clock: Clock, events: EventLog, messages: StorageMessages, options: ControlsOptions) {
		this.#ledger = ledger;
		this.#clock = clock;
		this.#events = events;
		this.#messages = messages;
		this.#configEntries = options.promptBlocklist;
		this.nsfwLaxAllowed = options.allowNsfwLax ?? false;
	}

	/**
	 * The refusal for a request, in the order users meet them, or null to go on: a block of the user (bot-wide, then
	 * in the server), the server's gates (generation off, another channel, a role it lacks), then the prompt blocklists
	 * (the bot owner's, then the server's: not in an age-restricted channel where the laxer setting is in force, see
	 * `nsfwLaxInForce`). A ledger that cannot be read refuses with IO rather than letting a request through.
	 */
	public async screen(request: ScreenRequest): Promise<StorageFailure | null> {
		try {
			return await this.#screen(request);
		} catch {
			return failure('IO', this.#messages.ledgerUnavailable);
		}
	}

	async #screen(request: ScreenRequest): Promise<StorageFailure | null> {
		const guildId = request.guildId && isSnowflake(request.guildId) ? request.guildId : null;
		const scopes = guildId ? ['', guildId] : [''];
		const block = await this.#blockInForce(request.userId, scopes);
		let lax = false;
		if (block) {
			this.#events.append({
				type: 'denial',
				userId: request.userId,
				reason: 'USER_BLOCKED',
				...(guildId ? { guildId } : {}),
				list: block.guildId === null ? 'owner' : 'server'
			});
			return failure('USER_BLOCKED', this.#messages.userBlocked(block));
		}
		if (guildId) {
			const settings = await this.settingsOf(guildId);
			const gate = this.#gate(settings, request);
			if (gate) {
				this.#events.append({ type: 'denial', userId: request.userId, reason: 'NOT_HERE', guildId, gate: gate.gate });
				return failure('NOT_HERE', gate.message);
			}
			lax = this.#laxIn(settings, request);
		}
		const prompt = request.prompt?.trim();
		if (!prompt) return null;
		// The owner's list applies everywhere; the server's own, not where the server chose the laxer setting.
		for (const scope of lax ? [''] : scopes) {
			const entry = (await this.#compiled(scope)).match(prompt);
			if (entry === null) continue;
			// The entry goes to the owner's log, never to the user: knowing the word helps to get around it.
			this.#events.append({
				type: 'denial',
				userId: request.userId,
				reason: 'PROMPT_BLOCKED',
				...(guildId ? { guildId } : {}),
				list: scope === '' ? 'owner' : 'server',
				entry
			});
			return failure('PROMPT_BLOCKED', this.#messages.promptBlocked);
		}
		return null;
	}

	/**
	 * Whether the laxer setting is in force for a request: the bot's owner allows it (ALLOW_NSFW_LAX), the server turned
	 * it on, and the request comes from a channel Discord marks age-restricted. Then the server's own blocklist is not
	 * applied (see `screen`) and a provider with a laxer moderation level uses it; nothing else changes. False in a DM,
	 * from the command-line tool, and when the settings cannot be read.
	 */
	public async nsfwLaxInForce(request: Pick<ScreenRequest, 'guildId' | 'ageRestricted'>): Promise<boolean> {
		const guildId = request.guildId && isSnowflake(request.guildId) ? request.guildId : null;
		if (!guildId || !request.ageRestricted || !this.nsfwLaxAllowed) return false;
		try {
			return this.#laxIn(await this.settingsOf(guildId), request);
		} catch {
			return false;
		}
	}

	#laxIn(settings: GuildSettings, request: Pick<ScreenRequest, 'ageRestricted'>): boolean {
		return this.nsfwLaxAllowed && settings.nsfwLax && request.ageRestricted === true;
	}

	/** The bot owner's list (`guildId` absent: configuration and ledger), or one server's own. */
	public async blocklist(guildId?: string | null): Promise<StorageResult<BlocklistView>> {
		const scope = this.#scopeOf(guildId);
		if (typeof scope !== 'string') return scope;
		const rows = await this.#ledger().blocklist([scope]);
		const stored: ListedEntry[] = rows.map((row) => ({ entry: row.entry, source: scope === '' ? 'owner' : 'server' }));
		const configured: ListedEntry[] = scope === '' ? this.#configEntries.map((entry) => ({ entry, source: 'config' })) : [];
		return {
			ok: true,
			guildId: scope || null,
			entries: [...configured, ...stored.filter((row) => !this.#configEntries.includes(row.entry))]
		};
	}

	/**
	 * Adds words, phrases or (to the owner's list only) `/.../` patterns. Every entry is checked first: one bad entry
	 * changes nothing and says which one and why.
	 */
	public async addToBlocklist(
		entries: readonly string[],
		guildId?: string | null
	): Promise<StorageResult<BlocklistView & { added: string[] }>> {
		const scope = this.#scopeOf(guildId);
		if (typeof scope !== 'string') return scope;
		const checked = this.#checkEntries(entries, scope === '');
		if (!Array.isArray(checked)) return checked;
		if (scope !== '') {
			const current = await this.#ledger().blocklist([scope]);
			const known = new Set(current.map((row) => row.entry));
			const fresh = new Set(checked.filter((entry) => !known.has(entry)));
			if (known.size + fresh.size > MAX_GUILD_ENTRIES) {
				return failure('INVALID_INPUT', `A server's blocklist holds at most ${MAX_GUILD_ENTRIES} entries; it has ${known.size}.`);
			}
		}
		const added = await this.#ledger().addToBlocklist(scope, checked, this.#clock());
		this.#lists.delete(scope);
		this.#events.append({ type: 'controls', change: 'blocklist-add', ...(scope ? { guildId: scope } : {}), entries: added.length });
		const view = await this.blocklist(guildId);
		return view.ok ? { ...view, added } : view;
	}

	/** Removes entries, written as they were added (compared in normal form). Entries from the configuration stay. */
	public async removeFromBlocklist(
		entries: readonly string[],
		guildId?: string | null
	): Promise<StorageResult<BlocklistView & { removed: string[]; notFound: string[] }>> {
		const scope = this.#scopeOf(guildId);
		if (typeof scope !== 'string') return scope;
		const checked = this.#checkEntries(entries, scope === '');
		if (!Array.isArray(checked)) return checked;
		const removed = await this.#ledger().removeFromBlocklist(scope, checked);
		this.#lists.delete(scope);
		this.#events.append({ type: 'controls', change: 'blocklist-remove', ...(scope ? { guildId: scope } : {}), entries: removed.length });
		const view = await this.blocklist(guildId);
		if (!view.ok) return view;
		return { ...view, removed, notFound: [...new Set(checked)].filter((entry) => !removed.includes(entry)) };
	}

	/** The block in force for a user (bot-wide first), or null. `guildId` absent: the bot-wide one only. */
	public async blockOf(userId: string, guildId?: string | null): Promise<BlockView | null> {
		return this.#blockInForce(userId, guildId ? ['', guildId] : ['']);
	}

	/** Blocks a user bot-wide or in one server (blocking again replaces the reason and the expiry). */
	public async block(userId: string, request: BlockRequest = {}): Promise<StorageResult<{ block: BlockView }>> {
		if (!isSnowflake(userId)) return failure('INVALID_NAME', this.#messages.invalidUser);
		const scope = this.#scopeOf(request.guildId);
		if (typeof scope !== 'string') return scope;
		const now = this.#clock();
		const reason = request.reason?.trim() || null;
		if (reason !== null && (reason.length > MAX_BLOCK_REASON_LENGTH || /\p{Cc}/u.test(reason))) {
			return failure('INVALID_INPUT', `A block's reason is one line of at most ${MAX_BLOCK_REASON_LENGTH} characters.`);
		}
		const until = request.until ?? null;
		if (until !== null && !(until.getTime() > now)) {
			return failure('INVALID_INPUT', `A block's end must be in the future (it is ${new Date(now).toISOString()} now).`);
		}
		const row: BlockRow = { userId, guildId: scope, reason, until: until?.getTime() ?? null, blockedAt: now };
		await this.#ledger().setBlock(row);
		this.#events.append({
			type: 'controls',
			change: 'block',
			userId,
			...(scope ? { guildId: scope } : {}),
			until: until?.toISOString() ?? null
		});
		return { ok: true, block: blockView(row) };
	}

	/** Lifts a user's block (bot-wide, or in one server); `lifted` null when there was none. */
	public async unblock(userId: string, guildId?: string | null): Promise<StorageResult<{ lifted: BlockView | null }>> {
		if (!isSnowflake(userId)) return failure('INVALID_NAME', this.#messages.invalidUser);
		const scope = this.#scopeOf(guildId);
		if (typeof scope !== 'string') return scope;
		const removed = await this.#ledger().removeBlock(userId, scope);
		if (removed) this.#events.append({ type: 'controls', change: 'unblock', userId, ...(scope ? { guildId: scope } : {}) });
		return { ok: true, lifted: removed ? blockView(removed) : null };
	}

	async #blockInForce(userId: string, scopes: readonly string[]): Promise<BlockView | null> {
		if (!isSnowflake(userId)) return null;
		const now = this.#clock();
		const rows = await this.#ledger().blocksOf(userId, scopes);
		// Bot-wide ('' sorts first) before a server's.
		const row = rows.find((candidate) => candidate.until === null || candidate.until > now);
		return row ? blockView(row) : null;
	}

	/** A server's settings (cached like the lists: other processes' changes apply within 2 s). */
	public async settingsOf(guildId: string): Promise<GuildSettings> {
		const now = this.#clock();
		const cached = this.#settings.get(guildId);
		if (cached && cached.until > now) return cached.settings;
		const settings = (await this.#ledger().guildSettings(guildId)) ?? defaultSettings(guildId);
		this.#settings.set(guildId, { settings, until: now + LIST_CACHE_MS });
		return settings;
	}

	/**
	 * Changes a server's settings: each field given replaces that field (null: back to no restriction), the others
	 * stay. Bad values change nothing and say why. The members' daily limit can be set to anything: the lower of it
	 * and the owner's limit applies, so a server can only ever tighten what the owner allows. The laxer setting for
	 * age-restricted channels can be turned on only while the owner allows it (ALLOW_NSFW_LAX); off, always.
	 */
	public async changeSettings(guildId: string, changes: GuildSettingsChange): Promise<StorageResult<{ settings: GuildSettings }>> {
		const changed = await this.#changeSettings(guildId, changes);
		return changed ?? failure('IO', GATE_RACE);
	}

	/** As changeSettings; with `expected`, null when that gate changed meanwhile (nothing was written). */
	async #changeSettings(
		guildId: string,
		changes: GuildSettingsChange,
		expected?: GateExpectation
	): Promise<StorageResult<{ settings: GuildSettings }> | null> {
		const scope = this.#scopeOf(guildId);
		if (typeof scope !== 'string' || scope === '') return failure('INVALID_NAME', 'That is not a Discord server id.');
		if (changes.nsfwLax === true && !this.nsfwLaxAllowed) return failure('INVALID_INPUT', NSFW_LAX_FORBIDDEN);
		const gates: [string, readonly string[] | null | undefined][] = [
			['channels', changes.channelIds],
			['roles', changes.roleIds]
		];
		for (const [field, ids] of gates) {
			if (ids === undefined || ids === null) continue;
			if (ids.length === 0) return failure('INVALID_INPUT', `Give at least one of the ${field}, or clear the ${field} gate.`);
			if (ids.length > MAX_GATE_IDS) return failure('INVALID_INPUT', `At most ${MAX_GATE_IDS} ${field} in a gate.`);
			const bad = ids.find((id): boolean => !isSnowflake(id));
			if (bad !== undefined) return failure('INVALID_INPUT', `Not a Discord id among the ${field}: ${JSON.stringify(bad.slice(0, 40))}.`);
		}
		for (const [what, daily] of [
			['daily limit per member', changes.memberDailyGens],
			['daily total', changes.guildDailyGens]
		] as const) {
			if (daily !== undefined && daily !== null && !(Number.isSafeInteger(daily) && daily >= 0 && daily <= 1_000_000)) {
				return failure('INVALID_INPUT', `A server's ${what} is a whole number from 0 to 1000000.`);
			}
		}
		const normal: GuildSettingsChange = {
			...changes,
			...(changes.channelIds ? { channelIds: [...new Set(changes.channelIds)] } : {}),
			...(changes.roleIds ? { roleIds: [...new Set(changes.roleIds)] } : {})
		};
		const settings = await this.#ledger().changeGuildSettings(scope, normal, expected);
		if (!settings) return null;
		this.#settings.delete(scope);
		this.#events.append({ type: 'controls', change: 'settings', guildId: scope, fields: Object.keys(changes) });
		return { ok: true, settings };
	}

	/**
	 * Adds or removes one channel or role of a server's gate (`everywhere`: no restriction), from the settings as the
	 * ledger holds them now (not this process's cache), so an admin's change builds on every change made before it:
	 * written only if the gate is still what was read, else read again (two admins adding a channel each at the same
	 * moment both land).
	 */
	public async changeGate(
		guildId: string,
		gate: 'channelIds' | 'roleIds',
		change: { add?: string | null; remove?: string | null; everywhere?: boolean }
	): Promise<StorageResult<{ settings: GuildSettings }>> {
		if (!isSnowflake(guildId)) return failure('INVALID_NAME', 'That is not a Discord server id.');
		if (change.everywhere) return this.changeSettings(guildId, { [gate]: null });
		for (let attempt = 0; attempt < GATE_ATTEMPTS; attempt++) {
			const current = (await this.#ledger().guildSettings(guildId)) ?? defaultSettings(guildId);
			const ids = (current[gate] ?? []).filter((id) => id !== change.remove);
			if (change.add && !ids.includes(change.add)) ids.push(change.add);
			const changed = await this.#changeSettings(guildId, { [gate]: ids.length > 0 ? ids : null }, { gate, ids: current[gate] });
			if (changed) return changed;
			await new Promise((resolve) => setTimeout(resolve, Math.random() * GATE_PAUSE_MS * (attempt + 1)));
		}
		return failure('IO', GATE_RACE);
	}

	#gate(settings: GuildSettings, request: ScreenRequest): { gate: string; message: string } | null {
		if (!settings.enabled) return { gate: 'off', message: this.#messages.notHere({ off: true, channelIds: null, roleIds: null }) };
		if (settings.channelIds && request.channelId && !settings.channelIds.includes(request.channelId)) {
			return { gate: 'channel', message: this.#messages.notHere({ off: false, channelIds: settings.channelIds, roleIds: null }) };
		}
		if (settings.roleIds && !settings.roleIds.some((role) => request.roleIds?.includes(role))) {
			return { gate: 'role', message: this.#messages.notHere({ off: false, channelIds: null, roleIds: settings.roleIds }) };
		}
		return null;
	}

	#checkEntries(entries: readonly string[], patterns: boolean): string[] | StorageFailure {
		if (entries.length === 0) return failure('INVALID_INPUT', 'Give at least one word or phrase.');
		const checked: string[] = [];
		for (const raw of entries) {
			const entry = checkEntry(raw, patterns);
			if (!entry.ok) return failure('INVALID_INPUT', `Not a blocklist entry: ${entry.problem}.`);
			checked.push(entry.entry);
		}
		return checked;
	}

	/** '' for the owner's list, the server id for a server's, or the failure for an id of the wrong shape. */
	#scopeOf(guildId: string | null | undefined): string | StorageFailure {
		if (guildId === undefined || guildId === null) return '';
		return isSnowflake(guildId) ? guildId : failure('INVALID_NAME', 'That is not a Discord server id.');
	}

	async #compiled(scope: string): Promise<CompiledBlocklist> {
		const now = this.#clock();
		const cached = this.#lists.get(scope);
		if (cached && cached.until > now) return cached.list;
		const rows = await this.#ledger().blocklist([scope]);
		const list = compileBlocklist([...(scope === '' ? this.#configEntries : []), ...rows.map((row) => row.entry)]);
		this.#lists.set(scope, { list, until: now + LIST_CACHE_MS });
		return list;
	}
}

function blockView(row: BlockRow): BlockView {
	return {
		userId: row.userId,
		guildId: row.guildId || null,
		reason: row.reason,
		until: row.until === null ? null : new Date(row.until),
		blockedAt: new Date(row.blockedAt)
	};
}

function defaultSettings(guildId: string): GuildSettings {
	return { guildId, enabled: true, channelIds: null, roleIds: null, memberDailyGens: null, guildDailyGens: null, nsfwLax: false };
}
