import { describe, expect, it } from 'vitest';
import { checkEntry, compileBlocklist, normalizePrompt } from '../../src/plugins/storage/controls/promptBlocklist.js';

/** The matcher on its own: what a prompt must look like to get past an entry, and what an entry never catches. */

function blocked(entries: string[], prompt: string): string | null {
	return compileBlocklist(entries.map((entry) => (checkEntry(entry, true) as { entry: string }).entry)).match(prompt);
}

describe('normalising a prompt', () => {
	it('folds case, accents, full-width forms and look-alike letters of other scripts; joins spelt-out letters', () => {
		expect(normalizePrompt('Crème BRÛLÉE')).toBe('creme brulee');
		expect(normalizePrompt('ｎｕｄｅ ｐｏｒｔｒａｉｔ')).toBe('nude portrait');
		// Cyrillic а, е, о and р, Greek ο: each looks like its Latin twin.
		expect(normalizePrompt('\u0440\u043e\u0440\u0435 \u0455\u03bfap')).toBe('pope soap');
		expect(normalizePrompt('n u d e and n-u-d-e')).toBe('nude and nude');
		// Spelt-out letters keep no word boundaries: one run, in which an entry is found anywhere.
		expect(normalizePrompt('a n.u.d.e, x')).toBe('anudex');
		expect(normalizePrompt('a cat')).toBe('a cat');
	});
});

describe('matching an entry', () => {
	it.each([
		['plain', 'a nude portrait'],
		['upper case', 'a NUDE portrait'],
		['accents', 'a nüdé portrait'],
		['full-width letters', 'a ｎｕｄｅ portrait'],
		['Cyrillic look-alikes', 'a nud\u0435 portrait'],
		['spaced letters', 'a n u d e portrait'],
		['dotted letters', 'a n.u.d.e portrait'],
		['punctuation around it', '(nude), portrait']
	])('catches the entry written %s', (_how, prompt) => {
		expect(blocked(['nude'], prompt)).toBe('nude');
	});

	it.each([
		['digits for letters', 'a nud3 portrait', 'nude'],
		['zeros', 'a n00d portrait', 'nood'],
		['dollar signs', 'you a$$', 'ass'],
		['an at sign', 'an @ss', 'ass'],
		['inside a phrase', 'a bl00d bath', 'blood bath']
	])('catches the entry written with %s', (_how, prompt, entry) => {
		expect(blocked([entry], prompt)).toBe(entry);
	});

	it('reads digits as letters only inside words that have letters: numbers, prices and model names pass', () => {
		expect(blocked(['ass', 'sos', 'ie'], 'a 1080p render at $5, sd3 model, 4k, 505 points, 13 cats')).toBeNull();
		expect(blocked(['ass'], 'a classic cla55 portrait')).toBeNull();
		expect(blocked(['/n[u0]de/'], 'nud3')).toBe('/n[u0]de/');
	});

	it('matches whole words only: "classic" and "class" pass an entry "ass", "assassin" too', () => {
		expect(blocked(['ass'], 'a classic class portrait of an assassin')).toBeNull();
		expect(blocked(['ass'], 'a portrait of an ass')).toBe('ass');
		expect(blocked(['ass'], 'bad a s s')).toBe('ass');
	});

	it('a phrase matches its words in a row, not scattered', () => {
		expect(blocked(['Blood Bath'], 'a blood-bath at dawn')).toBe('blood bath');
		expect(blocked(['blood bath'], 'blood on the bath')).toBeNull();
	});

	it('a /pattern/ entry is a regular expression on the normal form', () => {
		expect(blocked(['/gore\\w*/'], 'very GORY scene')).toBeNull();
		expect(blocked(['/gor[ey]/'], 'very GORY scene')).toBe('/gor[ey]/');
		expect(blocked(['/^kill/'], 'Kill them all')).toBe('/^kill/');
	});
});

describe('checking an entry', () => {
	it('trims and normalises words; refuses empty, too long, or letterless entries', () => {
		expect(checkEntry('  Crème  ', false)).toEqual({ ok: true, entry: 'creme' });
		expect(checkEntry('   ', false)).toMatchObject({ ok: false, problem: 'an entry is empty' });
		expect(checkEntry('x'.repeat(101), false)).toMatchObject({ ok: false, problem: expect.stringContaining('longer than 100') });
		expect(checkEntry('!!!', false)).toMatchObject({ ok: false, problem: expect.stringContaining('no letters or digits') });
	});

	it('a regular expression only where patterns are allowed (the owner), and only a valid one', () => {
		expect(checkEntry('/gor[ey]/', true)).toEqual({ ok: true, entry: '/gor[ey]/' });
		expect(checkEntry('/gor[ey]/', false)).toMatchObject({ ok: false, problem: expect.stringContaining("bot owner's list only") });
		expect(checkEntry('/gor[ey/', true)).toMatchObject({ ok: false, problem: expect.stringContaining('not a valid regular expression') });
	});
});
