import { configVariables, type ConfigGroup } from './variables.js';

/**
 * The documentation of the variables, rendered from the one table in `variables.ts`: the README's
 * configuration table and `.env.example`. A test compares both files with these, so they cannot drift;
 * `npm run docs:config` rewrites them.
 */

const GROUP_ORDER: readonly ConfigGroup[] = ['Discord', 'Storage & quotas', "Owners' controls", 'S3 storage', 'Generation', 'Logging'];

/** The README's configuration table: `| Variable | Default | Meaning |`, one row per variable. */
export function renderConfigTable(): string {
	const rows = configVariables.map((row) => `| \`${row.name}\` | ${row.documentedDefault} | ${row.description.replaceAll('|', '\\|')} |`);
	return ['| Variable | Default | Meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

/** `.env.example`: every variable under its group, its description as a comment, then `NAME=example`. */
export function renderEnvExample(): string {
	const lines = [
		'# sapphire-imagine configuration. Copy to .env and fill in; variables set in the real environment win over this file.',
		'# An empty value means "use the default". Generated from src/lib/config/variables.ts by `npm run docs:config`.'
	];
	for (const group of GROUP_ORDER) {
		const rows = configVariables.filter((row) => row.group === group);
		if (rows.length === 0) continue;
		lines.push('', `# --- ${group} ---`);
		for (const row of rows) {
			const defaultNote =
				row.example || row.documentedDefault.startsWith('(') ? '' : ` Default: ${row.documentedDefault.replaceAll('`', '')}.`;
			lines.push(`# ${row.description.replaceAll('`', '')}${defaultNote}`, `${row.name}=${row.example ?? ''}`);
		}
	}
	return `${lines.join('\n')}\n`;
}

/** The cells of every row of the first markdown table after `heading` in `markdown` (formatting-agnostic). */
export function tableCellsAfter(markdown: string, heading: string): string[][] {
	const start = markdown.indexOf(heading);
	if (start === -1) return [];
	const lines = markdown.slice(start).split('\n');
	const first = lines.findIndex((line) => line.trimStart().startsWith('|'));
	if (first === -1) return [];
	const table: string[][] = [];
	for (const line of lines.slice(first)) {
		if (!line.trimStart().startsWith('|')) break;
		const cells = splitRow(line);
		if (cells.every((cell) => /^:?-+:?$/.test(cell))) continue;
		table.push(cells);
	}
	return table;
}

function splitRow(line: string): string[] {
	const cells: string[] = [];
	let cell = '';
	const body = line.trim().replace(/^\|/, '').replace(/\|$/, '');
	for (let index = 0; index < body.length; index++) {
		const char = body[index];
		if (char === '\\' && body[index + 1] === '|') {
			cell += '\\|';
			index++;
		} else if (char === '|') {
			cells.push(cell.trim());
			cell = '';
		} else cell += char;
	}
	cells.push(cell.trim());
	return cells;
}
