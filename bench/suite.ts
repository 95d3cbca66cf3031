import type { LedgerLimits } from '../src/plugins/storage/ledger/QuotaLedger.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What `bench/index.ts` hands every suite. */
/** Ledger limits no admission in a bench comes near: the benches measure the statements, not the refusals. */
export const UNLIMITED: LedgerLimits = {
	dailyGens: Number.MAX_SAFE_INTEGER,
	userBytes: Number.MAX_SAFE_INTEGER,
	globalBytes: Number.MAX_SAFE_INTEGER,
	jobs: Number.MAX_SAFE_INTEGER,
	guildDailyGens: Number.MAX_SAFE_INTEGER,
	globalCredits: Number.MAX_SAFE_INTEGER,
	userCredits: Number.MAX_SAFE_INTEGER,
	guildCredits: Number.MAX_SAFE_INTEGER
};

export interface BenchContext {
	/** `--files-1m`: add the 1,000,000-file case where a suite has one. */
	readonly files1m: boolean;
	/** Progress for the operator, on stderr so stdout stays tables + JSON. */
	log(message: string): void;
}

export interface Table {
	title: string;
	columns: string[];
	rows: string[][];
	/** Lines printed under the table: units, what the baseline is, targets. */
	notes?: string[];
}

export interface SuiteResult {
	tables: Table[];
	/** Machine-readable figures, gathered into the `--json` summary. */
	summary: Record<string, unknown>;
}

export interface Suite {
	name: string;
	description: string;
	run(context: BenchContext): Promise<SuiteResult>;
}

// ---------------------------------------------------------------- statistics

export function median(values: readonly number[]): number {
	return quantile(values, 0.5);
}

/** Nearest-rank quantile (p99 of 2,000 samples is the 1,980th smallest). */
export function quantile(values: readonly number[], q: number): number {
	if (values.length === 0) return Number.NaN;
	const sorted = [...values].sort((a, b) => a - b);
	const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
	return sorted[rank - 1] as number;
}

// ---------------------------------------------------------------- formatting

export function fixed(value: number, digits = 1): string {
	return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

export function integer(value: number): string {
	return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : 'n/a';
}

export function percent(ratio: number): string {
	return Number.isFinite(ratio) ? `${(ratio * 100).toFixed(0)} %` : 'n/a';
}

export function times(ratio: number): string {
	if (!Number.isFinite(ratio)) return 'n/a';
	return ratio >= 100 ? `${integer(ratio)}x` : `${ratio.toFixed(ratio >= 10 ? 0 : 2)}x`;
}

/** A plain-text table: first column left-aligned, the others right-aligned (they are numbers). */
export function renderTable(table: Table): string {
	const widths = table.columns.map((column, index) => Math.max(column.length, ...table.rows.map((row) => (row[index] ?? '').length)));
	const line = (cells: string[]) =>
		cells.map((cell, index) => (index === 0 ? cell.padEnd(widths[index] ?? 0) : cell.padStart(widths[index] ?? 0))).join('  ');
	const rule = widths.map((width) => '-'.repeat(width)).join('  ');
	const out = [table.title, '', line(table.columns), rule, ...table.rows.map(line)];
	if (table.notes?.length) out.push('', ...table.notes.map((note) => `  ${note}`));
	return out.join('\n');
}

// ---------------------------------------------------------------- temp dirs

const tempDirs = new Set<string>();

/** A fresh directory under os.tmpdir(), removed by `removeTempDir` or `removeAllTempDirs`. */
export function makeTempDir(prefix: string): string {
	const dir = mkdtempSync(join(tmpdir(), `imagine-bench-${prefix}-`));
	tempDirs.add(dir);
	return dir;
}

export function removeTempDir(dir: string): void {
	rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
	tempDirs.delete(dir);
}

export function removeAllTempDirs(): void {
	for (const dir of [...tempDirs]) removeTempDir(dir);
}
