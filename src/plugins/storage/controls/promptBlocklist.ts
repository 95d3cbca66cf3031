/**
 * The prompt blocklist's matching: a prompt and every entry are brought to one normal form, then an entry matches
 * when its words appear as whole, consecutive words of the prompt ("classic" is not blocked by "ass"), or, for an
 * entry written `/.../`, when its regular expression finds a match in the normal form.
 *
 * The normal form undoes the simple evasions: case, accents ("nüde"), full-width and other compatibility forms
 * ("ｎｕｄｅ"), letters of other scripts that look like Latin ones (Cyrillic "а", Greek "ο"), and a word spelt out
 * letter by letter with spaces or punctuation between ("n u d e", "n.u.d.e"). Such a run of single letters has no
 * word boundaries left to trust ("a n u d e" is "anude"), so a one-word entry found anywhere inside a run matches.
 * A prompt with words mixing letters and digits or `@` / `$` ("nud3", "a$$") is read a second time with those
 * written as the letters they stand for; an entry matching either reading matches. Numbers alone ("1080", "$5")
 * are never read as letters.
 */

/** Entries longer than this are refused: a blocklist entry is a word or a short phrase. */
export const MAX_ENTRY_LENGTH = 100;

/**
 * Letters of other scripts that render like a Latin letter (after lower-casing), folded onto it. The common ones of
 * Unicode's confusables list for Cyrillic, Greek and Armenian; what NFKC already folds (full-width, ligatures,
 * mathematical letters) is not repeated here.
 */
const LOOK_ALIKES: Readonly<Record<string, string>> = {
	// Cyrillic
	а: 'a',
	в: 'b',
	с: 'c',
	ԁ: 'd',
	е: 'e',
	ё: 'e',
	һ: 'h',
	і: 'i',
	ї: 'i',
	ј: 'j',
	к: 'k',
	ӏ: 'l',
	м: 'm',
	н: 'h',
	о: 'o',
	р: 'p',
	ԛ: 'q',
	ѕ: 's',
	т: 't',
	у: 'y',
	ѵ: 'v',
	ԝ: 'w',
	х: 'x',
	// Greek
	α: 'a',
	β: 'b',
	ε: 'e',
	η: 'n',
	ι: 'i',
	κ: 'k',
	ν: 'v',
	ο: 'o',
	ρ: 'p',
	τ: 't',
	υ: 'u',
	χ: 'x',
	ω: 'w',
	// Armenian
	օ: 'o',
	ս: 'u',
	հ: 'h',
	ո: 'n'
};

/** Digits and symbols written for the letters they look like ("l33t" spelling), in words that also have letters. */
const LEET: Readonly<Record<string, string>> = {
	'0': 'o',
	'1': 'i',
	'3': 'e',
	'4': 'a',
	'5': 's',
	'7': 't',
	'8': 'b',
	'9': 'g',
	'@': 'a',
	$: 's'
};

const COMBINING_MARKS = /\p{M}+/gu;
const WORD = /[\p{L}\p{N}]+/gu;
/** A word as written with look-alike symbols kept, and whether it mixes letters with digits or those symbols. */
const LEET_TOKEN = /[\p{L}\p{N}@$]+/gu;
const MIXED = /^(?=.*\p{L})(?=.*[0-9@$])/u;

/** One character of a prompt folded: look-alike letters onto their Latin twins. */
function fold(character: string): string {
	return LOOK_ALIKES[character] ?? character;
}

/** A word of a text in normal form; `spelt` when it was a run of single letters joined ("n u d e" -> "nude"). */
export interface NormalWord {
	text: string;
	spelt: boolean;
}

/**
 * The words of a text in normal form: NFKC (full-width and compatibility forms), lower case, accents stripped,
 * look-alikes folded, split on anything that is not a letter or a digit; then every run of two or more
 * single-letter words ("n u d e") joined into one word.
 */
export function normalWords(text: string): NormalWord[] {
	return joinSpelt(foldText(text).match(WORD) ?? []);
}

/**
 * The second reading of a text, with the digits and symbols of words that mix them with letters read as letters
 * ("nud3" -> "nude", "a$$" -> "ass"); null when no word mixes them (the first reading is the only one).
 */
export function leetWords(text: string): NormalWord[] | null {
	const tokens = foldText(text).match(LEET_TOKEN) ?? [];
	if (!tokens.some((token) => MIXED.test(token))) return null;
	const words = tokens.flatMap((token) =>
		MIXED.test(token) ? [Array.from(token, (character) => LEET[character] ?? character).join('')] : (token.match(WORD) ?? [])
	);
	return joinSpelt(words);
}

/** NFKC, lower case, accents stripped, look-alikes folded. */
function foldText(text: string): string {
	return Array.from(text.normalize('NFKC').toLowerCase().normalize('NFD').replace(COMBINING_MARKS, ''), fold).join('');
}

/** Words as they are, except every run of two or more single letters, joined into one word. */
function joinSpelt(words: readonly string[]): NormalWord[] {
	const joined: NormalWord[] = [];
	let run: string[] = [];
	const endRun = () => {
		if (run.length > 0) joined.push({ text: run.join(''), spelt: run.length > 1 });
		run = [];
	};
	for (const word of words) {
		if (Array.from(word).length === 1 && /\p{L}/u.test(word)) run.push(word);
		else {
			endRun();
			joined.push({ text: word, spelt: false });
		}
	}
	endRun();
	return joined;
}

/** The words alone, for entries (an entry is compared word by word). */
export function normalizedWords(text: string): string[] {
	return normalWords(text).map((word) => word.text);
}

/** A text in normal form, its words separated by single spaces: what a `/.../` entry is matched against. */
export function normalizePrompt(text: string): string {
	return normalizedWords(text).join(' ');
}

export function isPatternEntry(entry: string): boolean {
	return entry.length >= 3 && entry.startsWith('/') && entry.endsWith('/');
}

/** An entry as it is stored and compared: a pattern as written (trimmed), words in normal form. */
export type EntryCheck = { ok: true; entry: string } | { ok: false; problem: string };

/**
 * Checks and normalises one entry. `patterns`: whether `/.../` entries are allowed here (the owner's list only:
 * a server's admins could otherwise write an expression that makes every prompt slow).
 */
export function checkEntry(raw: string, patterns: boolean): EntryCheck {
	const trimmed = raw.trim();
	if (trimmed === '') return { ok: false, problem: 'an entry is empty' };
	if (trimmed.length > MAX_ENTRY_LENGTH) return { ok: false, problem: `an entry is longer than ${MAX_ENTRY_LENGTH} characters` };
	if (isPatternEntry(trimmed)) {
		if (!patterns) return { ok: false, problem: "regular expressions (/.../) are for the bot owner's list only" };
		try {
			new RegExp(trimmed.slice(1, -1), 'u');
		} catch (error) {
			return { ok: false, problem: `${trimmed} is not a valid regular expression (${(error as Error).message})` };
		}
		return { ok: true, entry: trimmed };
	}
	const words = normalizedWords(trimmed);
	if (words.length === 0) return { ok: false, problem: `${JSON.stringify(trimmed)} has no letters or digits to match` };
	return { ok: true, entry: words.join(' ') };
}

/** A set of entries compiled once, to test prompts against. */
export interface CompiledBlocklist {
	/** The first entry (as stored) that the prompt matches, or null. */
	match(prompt: string): string | null;
}

export function compileBlocklist(entries: readonly string[]): CompiledBlocklist {
	const phrases: { entry: string; words: string[] }[] = [];
	const patterns: { entry: string; pattern: RegExp }[] = [];
	for (const entry of entries) {
		if (isPatternEntry(entry)) {
			try {
				patterns.push({ entry, pattern: new RegExp(entry.slice(1, -1), 'u') });
			} catch {
				// Checked when it was added; an entry that no longer compiles blocks nothing rather than everything.
			}
			continue;
		}
		const words = normalizedWords(entry);
		if (words.length > 0) phrases.push({ entry, words });
	}
	return {
		match(prompt) {
			if (phrases.length === 0 && patterns.length === 0) return null;
			const readings = [normalWords(prompt), leetWords(prompt)].filter((words): words is NormalWord[] => words !== null);
			for (const words of readings) {
				for (const phrase of phrases) if (containsPhrase(words, phrase.words)) return phrase.entry;
			}
			for (const words of readings) {
				const text = words.map((word) => word.text).join(' ');
				for (const { entry, pattern } of patterns) if (pattern.test(text)) return entry;
			}
			return null;
		}
	};
}

function containsPhrase(words: readonly NormalWord[], phrase: readonly string[]): boolean {
	const [only] = phrase;
	if (phrase.length === 1 && only !== undefined) return words.some((word) => (word.spelt ? word.text.includes(only) : word.text === only));
	for (let start = 0; start + phrase.length <= words.length; start++) {
		if (phrase.every((word, offset) => words[start + offset]?.text === word)) return true;
	}
	return false;
}
