import type { ListedEntry } from '../plugins/storage/controls/Controls.js';
import { checkEntry } from '../plugins/storage/controls/promptBlocklist.js';
import type { ServiceCommand } from './commands.js';
import { failed, succeeded } from './outcome.js';
import { guildIdOption, shown } from './options.js';
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

function listText(entries: readonly ListedEntry[]): string {
	if (entries.length === 0) return '  (empty)';
	return entries.map((row) => `  ${row.entry}${row.source === 'config' ? '  (PROMPT_BLOCKLIST)' : ''}`).join('\n');
}
