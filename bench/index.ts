import { cpus, loadavg, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { botSuite } from './bot.js';
import { generationSuite } from './generation.js';
import { postgresSuite } from './postgres.js';
import { s3Suite } from './s3.js';
import { storageSuite } from './storage.js';
import { removeAllTempDirs, renderTable, type BenchContext, type Suite } from './suite.js';

/*
 * npm run bench [-- --json] [-- --files-1m] [-- --only storage|postgres|s3|generation|bot]
 *
 * Runs every suite in sequence (or the one named by --only) and prints a table per suite. Every figure is set beside a baseline
 * measured in the same run, on the same machine, so ratios stay meaningful from one machine to another.
 *   --json      after the tables, print a JSON summary of every figure (the last thing on stdout)
 *   --files-1m  add the 1,000,000-file case to the storage suite (minutes, and ~8 GB of small files)
 *   --only      run one suite: storage, postgres, s3, generation or bot
 */

const allSuites: Suite[] = [storageSuite, postgresSuite, s3Suite, generationSuite, botSuite];

const { values } = parseArgs({
	options: {
		json: { type: 'boolean', default: false },
		'files-1m': { type: 'boolean', default: false },
		only: { type: 'string' }
	},
	strict: true
});

const suites = values.only === undefined ? allSuites : allSuites.filter((suite) => suite.name === values.only);
if (suites.length === 0) {
	process.stderr.write(`--only: unknown suite "${values.only}"; expected one of: ${allSuites.map((suite) => suite.name).join(', ')}\n`);
	process.exit(2);
}

const startedAt = performance.now();
const context: BenchContext = {
	files1m: values['files-1m'] ?? false,
	log: (message) => process.stderr.write(`[bench ${((performance.now() - startedAt) / 1000).toFixed(1)} s] ${message}\n`)
};

const environment = {
	node: process.version,
	platform: `${process.platform} ${process.arch}`,
	cpus: `${cpus().length} x ${cpus()[0]?.model.trim() ?? 'unknown'}`,
	memoryGb: Math.round(totalmem() / 1024 ** 3),
	loadAverageAtStart: loadavg().map((load) => Math.round(load * 100) / 100),
	startedAt: new Date().toISOString(),
	flags: { json: values.json ?? false, files1m: context.files1m, only: values.only ?? null }
};

// An interrupted run must not leave hundreds of thousands of files in the temp folder.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
	process.once(signal, () => {
		process.stderr.write(`\n${signal}: removing temp folders...\n`);
		removeAllTempDirs();
		process.exit(130);
	});
}

console.log(
	`sapphire-imagine benchmarks: node ${environment.node}, ${environment.platform}, ${environment.cpus}, ${environment.memoryGb} GB RAM, ` +
		`load average ${environment.loadAverageAtStart.join(' / ')} (1 / 5 / 15 min)`
);

const summary: Record<string, unknown> = {};
let failed = false;
try {
	for (const suite of suites) {
		context.log(`suite ${suite.name}: ${suite.description}`);
		const suiteStart = performance.now();
		const result = await suite.run(context);
		const seconds = (performance.now() - suiteStart) / 1000;
		console.log(`\n=== ${suite.name}: ${suite.description} (${seconds.toFixed(1)} s) ===`);
		for (const table of result.tables) console.log(`\n${renderTable(table)}`);
		summary[suite.name] = { seconds, ...result.summary };
	}
} catch (error) {
	failed = true;
	process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
} finally {
	removeAllTempDirs();
}

const totalSeconds = (performance.now() - startedAt) / 1000;
const loadAverageAtEnd = loadavg().map((load) => Math.round(load * 100) / 100);
console.log(`\nTotal: ${totalSeconds.toFixed(1)} s; load average at the end ${loadAverageAtEnd.join(' / ')}`);
if (values.json) console.log(JSON.stringify({ environment: { ...environment, loadAverageAtEnd }, totalSeconds, suites: summary }, null, 2));
process.exitCode = failed ? 1 : 0;
