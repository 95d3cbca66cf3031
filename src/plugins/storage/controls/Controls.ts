import type { Clock } from '../clock.js';
import type { EventLog } from '../EventLog.js';
import { isSnowflake } from '../ids.js';
import type { QuotaLedger } from '../ledger/QuotaLedger.js';
import type { StorageMessages } from '../StorageMessages.js';
import { failure, type StorageFailure, type StorageResult } from '../StorageResult.js';
import { checkEntry, compileBlocklist, type CompiledBlocklist } from './promptBlocklist.js';

/** Lists are read on every job; other processes' changes are picked up within this time (as overrides are). */
const LIST_CACHE_MS = 2000;
/** A server's own list holds at most this many entries (each one is tested against every prompt there). */
export const MAX_GUILD_ENTRIES = 500;

/** What a request is, as far as the controls look at it. */
export interface ScreenRequest {
	userId: string;
	/** The server it comes from; none in a DM or from the command-line tool without --guild. */
	guildId?: string | null;
	/** The prompt, when the job has one (an upscale has none). */
	prompt?: string | null;
}

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

export interface ControlsOptions {
	/** The bot owner's entries from the configuration (PROMPT_BLOCKLIST), checked already. */
	promptBlocklist: readonly string[];
}

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
	readonly #lists = new Map<string, { list: CompiledBlocklist; until: number }>();

	public constructor(ledger: () => QuotaLedger, clock: Clock, events: EventLog, messages: StorageMessages, options: ControlsOptions) {
		this.#ledger = ledger;
		this.#clock = clock;
		this.#events = events;
		this.#messages = messages;
		this.#configEntries = options.promptBlocklist;
	}

	/**
	 * The refusal for a request, in the order users meet them, or null to go on: the prompt blocklists (the bot
	 * owner's, then the server's). A ledger that cannot be read refuses with IO rather than letting a prompt through.
	 */
	public async screen(request: ScreenRequest): Promise<StorageFailure | null> {
		try {
			return await this.#screen(request);
		} catch {
			return failure('IO', this.#messages.ledgerUnavailable);
		}
	}

	async #screen(request: ScreenRequest): Promise<StorageFailure | null> {
		const prompt = request.prompt?.trim();
		if (!prompt) return null;
		const guildId = request.guildId && isSnowflake(request.guildId) ? request.guildId : null;
		for (const scope of guildId ? ['', guildId] : ['']) {
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
