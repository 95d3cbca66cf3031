import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import sharp from 'sharp';
import { FormData, Pool, type Dispatcher } from 'undici';
import { ImageGenerator } from '../src/plugins/generation/ImageGenerator.js';
import { ImageJobs, type JobResult, type JobStatus } from '../src/plugins/generation/ImageJobs.js';
import type { GenerationOptions } from '../src/plugins/generation/options.js';
import type { StorageOptions } from '../src/plugins/storage/options.js';
import { StorageManager } from '../src/plugins/storage/StorageManager.js';
import { fixed, integer, makeTempDir, median, quantile, removeTempDir, times, type Suite, type SuiteResult, type Table } from './suite.js';

/*
 * The generation suite. Two questions, each answered against a baseline measured in the same run:
 *
 * A. What does the guarded job add to a provider call? ImageJobs.run (reserve -> ImageGenerator with the
 *    stability provider -> saveImage -> quota status) against an instant fake Stability server, beside the
 *    same POST made directly with undici (same multipart fields, same PNG answer, body read and joined).
 * B. How many copies of an image does a job hold? Peak memory of 20 concurrent jobs whose answer is a
 *    ~10 MB PNG, per job and per image byte, beside 20 direct undici requests for the same answer.
 *
 * The fake server runs in a child process (this file, forked) so its buffers and CPU stay out of the
 * figures; each memory run is a fresh child process too, so RSS starts from a clean allocator.
 */

const ROLE_ENV = 'IMAGINE_BENCH_GENERATION_ROLE';
const CONFIG_ENV = 'IMAGINE_BENCH_GENERATION_CONFIG';
const THIS_FILE = fileURLToPath(import.meta.url);

const GENERATE_PATH = '/v2beta/stable-image/generate/core';
const API_KEY = 'sk-bench-not-a-real-key';
const PROMPT = 'a lighthouse on a cliff at dawn, oil painting';
const SMALL_SIDE = 1024;
/** 1830 x 1830 x 3 random bytes, stored (compression 0): ~10 MB that no filter can shrink. */
const LARGE_SIDE = 1830;

const CONCURRENCIES = [1, 8] as const;
const PHASE_MS = 1500;
const PHASE_MAX_OPS = 20_000;
const PHASE_REPEATS = 2;
const PHASE_WARMUP = 30;
const INTERLEAVED_WARMUP = 50;
const INTERLEAVED_ROUNDS = 600;
const INTERLEAVED_MAX_MS = 8000;

const MEMORY_JOBS = 20;
const MEMORY_REPEATS = 3;
const SAMPLE_EVERY_MS = 2;
const MEMORY_TARGET = 3;

/** Part A's provider limits: wide enough that the client-side limiter never holds a request. */
const HTTP_MAX_CONCURRENT = 8;
/** The schema caps a window at 10,000 requests: 10,000 per 0.1 s is 100,000/s. */
const HTTP_PER_WINDOW = 10_000;
const HTTP_WINDOW_SECONDS = 0.1;

/** Limits no job in this bench comes near. */
const GENEROUS: StorageOptions = {
	maxGlobalStorageMb: 10_000_000,
	maxUserStorageMb: 1_000_000,
	maxUserDailyGens: 100_000_000,
	cleanupIntervalMinutes: 0,
	reconcileOnStart: false
};
const USERS = Array.from({ length: 1000 }, (_, index) => `6300000000000${String(index).padStart(6, '0')}`);
const JOB_OPTIONS = { jobTimeoutMs: 600_000, dailyCost: { textToImage: 1, imageToImage: 1, upscale: 1 } };

export const generationSuite: Suite = {
	name: 'generation',
	description: 'guarded job latency and jobs/s vs a direct undici POST; peak memory per in-flight 10 MB job',
	async run(context) {
		const files = makeTempDir('generation-pngs');
		const storageRoot = makeTempDir('generation-storage');
		let server: FakeServer | undefined;
		try {
			context.log('generation: making a 1024x1024 solid PNG and a ~10 MB noise PNG with sharp');
			const small = await sharp({ create: { width: SMALL_SIDE, height: SMALL_SIDE, channels: 3, background: { r: 40, g: 90, b: 160 } } })
				.png()
				.toBuffer();
			const large = await sharp(randomBytes(LARGE_SIDE * LARGE_SIDE * 3), { raw: { width: LARGE_SIDE, height: LARGE_SIDE, channels: 3 } })
				.png({ compressionLevel: 0, adaptiveFiltering: false })
				.toBuffer();
			if (large.length < 9_500_000 || large.length > 11_000_000) throw new Error(`the noise PNG is ${large.length} B, expected ~10 MB`);
			const smallPath = join(files, 'small.png');
			const largePath = join(files, 'large.png');
			writeFileSync(smallPath, small);
			writeFileSync(largePath, large);

			server = await startFakeServer([smallPath, largePath]);
			const [smallPort, largePort] = server.ports as [number, number];
			context.log(
				`generation: fake Stability server (child pid ${server.pid}) on 127.0.0.1:${smallPort} (small) and :${largePort} (10 MB)`
			);

			const overhead = await benchOverhead(context, smallPort, small.length, storageRoot);
			const memory = await benchMemory(context, smallPort, largePort, large.length);
			return {
				tables: [...overhead.tables, ...memory.tables],
				summary: { smallPngBytes: small.length, largePngBytes: large.length, ...overhead.summary, ...memory.summary }
			};
		} finally {
			await server?.stop();
			removeTempDir(storageRoot);
			removeTempDir(files);
		}
	}
};

// ---------------------------------------------------------------- shared pieces

function generationOptions(port: number, maxConcurrent: number): GenerationOptions {
	return {
		provider: 'stability',
		stability: { apiKey: API_KEY, host: `http://127.0.0.1:${port}`, api: 'v2beta', model: 'core' },
		http: { maxConcurrent, maxRequestsPerWindow: HTTP_PER_WINDOW, windowSeconds: HTTP_WINDOW_SECONDS }
	};
}

/** The provider call alone: the POST StabilityProvider makes for text-to-image, straight through an undici Pool. */
class DirectCall {
	readonly #pool: Pool;

	public constructor(port: number, connections: number) {
		this.#pool = new Pool(`http://127.0.0.1:${port}`, { connections, keepAliveTimeout: 30_000 });
	}

	public async call(): Promise<Buffer> {
		// The fields v2Form + textToImage send for { prompt } (seed 0 is not sent; 1:1 is the default ratio).
		const form = new FormData();
		form.append('prompt', PROMPT);
		form.append('output_format', 'png');
		form.append('aspect_ratio', '1:1');
		const response = await this.#pool.request({
			method: 'POST',
			path: GENERATE_PATH,
			headers: { Authorization: `Bearer ${API_KEY}`, Accept: 'image/*' },
			body: form as Dispatcher.RequestOptions['body']
		});
		const chunks: Buffer[] = [];
		let received = 0;
		for await (const chunk of response.body as AsyncIterable<Buffer>) {
			received += chunk.length;
			chunks.push(chunk);
		}
		if (response.statusCode !== 200) throw new Error(`fake server answered ${response.statusCode}`);
		return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, received);
	}

	public close(): Promise<void> {
		return this.#pool.close();
	}
}

let userSequence = 0;
function nextUser(): string {
	return USERS[userSequence++ % USERS.length] as string;
}

function checkJob(result: JobResult, bytes: number, stored: boolean): void {
	if (!result.ok) throw new Error(`job failed: ${result.reason} ${result.message}`);
	if (result.image.data.length !== bytes || result.image.seed !== 1)
		throw new Error('job returned another image than the fake server sent');
	if (stored !== (result.stored !== null)) throw new Error(`job ${stored ? 'did not store' : 'stored'} its image`);
}

// ---------------------------------------------------------------- A. job overhead

type Operation = 'baseline' | 'generator' | 'job-no-storage' | 'job';

const LABELS: Record<Operation, string> = {
	baseline: 'undici POST, body read (BASELINE)',
	generator: 'ImageGenerator.textToImage',
	'job-no-storage': 'ImageJobs.run, no storage',
	job: 'ImageJobs.run + storage (the job)'
};

interface Phase {
	ops: number;
	seconds: number;
	latenciesMs: number[];
}

interface ThroughputRow {
	operation: Operation;
	workers: number;
	ops: number;
	seconds: number;
	opsPerSecond: number;
	medianMs: number;
	p99Ms: number;
	/** ops/s ÷ the baseline's requests/s at the same concurrency. */
	vsBaseline: number;
	/** Median minus the baseline's median at the same concurrency. */
	addedMs: number;
}

interface LatencyRow {
	operation: Operation;
	medianMs: number;
	p99Ms: number;
	addedMs: number;
}

async function benchOverhead(
	context: Parameters<Suite['run']>[0],
	port: number,
	pngBytes: number,
	storageRoot: string
): Promise<SuiteResult> {
	const storage = await StorageManager.open({ ...GENEROUS, storageRoot });
	const generator = ImageGenerator.create(generationOptions(port, HTTP_MAX_CONCURRENT));
	const direct = new DirectCall(port, HTTP_MAX_CONCURRENT);
	const withStorage = new ImageJobs(generator, () => storage, JOB_OPTIONS);
	const withoutStorage = new ImageJobs(generator, () => undefined, JOB_OPTIONS);
	let limiterWaits = 0;
	const onStatus = (status: JobStatus) => {
		if (status.state === 'queued') limiterWaits++;
	};

	const operations: Record<Operation, () => Promise<void>> = {
		baseline: async () => {
			if ((await direct.call()).length !== pngBytes) throw new Error('baseline read another body than the fake server sent');
		},
		generator: async () => {
			const result = await generator.textToImage({ prompt: PROMPT }, { onQueued: () => limiterWaits++ });
			if (!result.ok || result.image.data.length !== pngBytes)
				throw new Error(`textToImage failed: ${JSON.stringify(result).slice(0, 200)}`);
		},
		'job-no-storage': async () =>
			checkJob(
				await withoutStorage.run({ kind: 'text-to-image', request: { prompt: PROMPT }, userId: nextUser(), onStatus }),
				pngBytes,
				false
			),
		job: async () =>
			checkJob(await withStorage.run({ kind: 'text-to-image', request: { prompt: PROMPT }, userId: nextUser(), onStatus }), pngBytes, true)
	};
	const order = Object.keys(LABELS) as Operation[];

	const rows: ThroughputRow[] = [];
	let latencyRows: LatencyRow[];
	let rounds: number;
	try {
		// Latency: one call of each per round, in order, so all four see the same machine noise.
		context.log(
			`overhead: ${INTERLEAVED_WARMUP} + up to ${INTERLEAVED_ROUNDS} rounds of baseline / generator / job without and with storage`
		);
		const samples: Record<Operation, number[]> = { baseline: [], generator: [], 'job-no-storage': [], job: [] };
		for (let round = 0; round < INTERLEAVED_WARMUP; round++) for (const operation of order) await operations[operation]();
		const until = performance.now() + INTERLEAVED_MAX_MS;
		for (rounds = 0; rounds < INTERLEAVED_ROUNDS && performance.now() < until; rounds++) {
			for (const operation of order) {
				const started = performance.now();
				await operations[operation]();
				samples[operation].push(performance.now() - started);
			}
		}
		const baselineMedian = median(samples.baseline);
		latencyRows = order.map((operation) => ({
			operation,
			medianMs: median(samples[operation]),
			p99Ms: quantile(samples[operation], 0.99),
			addedMs: median(samples[operation]) - baselineMedian
		}));

		// Throughput: timed phases, alternated so that drift (page cache, WAL growth) is shared.
		for (const workers of CONCURRENCIES) {
			const phases: Record<Operation, Phase[]> = { baseline: [], generator: [], 'job-no-storage': [], job: [] };
			const measured: Operation[] = ['baseline', 'job-no-storage', 'job'];
			context.log(`overhead: ${workers} worker(s), ${PHASE_REPEATS} x ${PHASE_MS / 1000} s each of baseline / job without storage / job`);
			for (const operation of measured) for (let index = 0; index < PHASE_WARMUP; index++) await operations[operation]();
			for (let repeat = 0; repeat < PHASE_REPEATS; repeat++) {
				for (const operation of measured) phases[operation].push(await timedPhase(workers, operations[operation]));
			}
			const merged = (operation: Operation) => {
				const list = phases[operation];
				const ops = list.reduce((sum, phase) => sum + phase.ops, 0);
				const seconds = list.reduce((sum, phase) => sum + phase.seconds, 0);
				const latencies = list.flatMap((phase) => phase.latenciesMs);
				return { ops, seconds, opsPerSecond: ops / seconds, medianMs: median(latencies), p99Ms: quantile(latencies, 0.99) };
			};
			const baseline = merged('baseline');
			for (const operation of measured) {
				const figures = merged(operation);
				rows.push({
					operation,
					workers,
					...figures,
					vsBaseline: figures.opsPerSecond / baseline.opsPerSecond,
					addedMs: figures.medianMs - baseline.medianMs
				});
			}
		}
	} finally {
		await withStorage.drain(1000);
		await withoutStorage.drain(1000);
		await generator.close();
		await direct.close();
		await storage.close();
	}

	const job = latencyRows.find((row) => row.operation === 'job') as LatencyRow;
	const noStorage = latencyRows.find((row) => row.operation === 'job-no-storage') as LatencyRow;
	const generatorRow = latencyRows.find((row) => row.operation === 'generator') as LatencyRow;
	const base = latencyRows.find((row) => row.operation === 'baseline') as LatencyRow;
	const latencyTable: Table = {
		title: 'A1. Added latency of the guarded job, 1 request at a time, ms (the four calls interleaved round by round)',
		columns: ['call', 'median ms', 'p99 ms', 'added (median - baseline)', 'x baseline'],
		rows: latencyRows.map((row) => [
			LABELS[row.operation],
			fixed(row.medianMs, 3),
			fixed(row.p99Ms, 3),
			row.operation === 'baseline' ? '' : `${signed(row.addedMs, 3)} ms`,
			times(row.medianMs / base.medianMs)
		]),
		notes: [
			`${rounds} rounds after ${INTERLEAVED_WARMUP} warm-up rounds. Fake Stability server: a child process on 127.0.0.1 that reads the`,
			`  whole multipart body, then answers a ${SMALL_SIDE}x${SMALL_SIDE} solid PNG (${integer(pngBytes)} B) with finish-reason: SUCCESS, seed: 1.`,
			'BASELINE: the same POST (prompt, output_format, aspect_ratio as undici FormData; same headers) through an undici Pool, body',
			'  collected and joined as HttpClient does. That is the provider call alone.',
			`Where the added ${fixed(job.addedMs, 2)} ms goes (differences of medians): provider path (HttpClient limiter + signals, the`,
			`  stability provider, 2 sharp header reads of the answer) ${signed(generatorRow.addedMs, 2)} ms; ImageJobs without storage`,
			`  ${signed(noStorage.medianMs - generatorRow.medianMs, 2)} ms; storage (reserve, saveImage: 2 files written + fsynced + renamed,` +
				` folder fsynced, ledger commit; quota status) ${signed(job.medianMs - noStorage.medianMs, 2)} ms.`
		]
	};

	const throughputTable: Table = {
		title: 'A2. Jobs per second vs baseline requests per second at the same concurrency',
		columns: ['operation', 'workers', 'ops', 'seconds', 'ops/s', 'vs baseline', 'median ms', 'p99 ms', 'added median ms'],
		rows: rows.map((row) => [
			LABELS[row.operation],
			String(row.workers),
			integer(row.ops),
			fixed(row.seconds, 2),
			integer(row.opsPerSecond),
			times(row.vsBaseline),
			fixed(row.medianMs, 3),
			fixed(row.p99Ms, 3),
			row.operation === 'baseline' ? '' : signed(row.addedMs, 3)
		]),
		notes: [
			`Each line: ${PHASE_REPEATS} phases of ${PHASE_MS / 1000} s (or ${integer(PHASE_MAX_OPS)} ops), alternated with the other lines, after` +
				` ${PHASE_WARMUP} warm-up calls. workers = concurrent async loops in this one process.`,
			`Provider HTTP: maxConcurrent ${HTTP_MAX_CONCURRENT} (= the Pool's connections, as for the baseline), ${integer(HTTP_PER_WINDOW)} requests` +
				` per ${HTTP_WINDOW_SECONDS} s window (the schema's cap per window); the limiter queued ${integer(limiterWaits)} requests in the whole of part A.`,
			`Storage: a real StorageManager in a temp folder (SQLite ledger), ${USERS.length} users round-robin, limits never reached.`,
			'The fake server answers at once, so these ratios compare sub-millisecond calls; a real generation takes seconds, and what',
			'  the job adds to it is the "added" column: a few ms, most of it the fsyncs of saveImage and the ledger commit.'
		]
	};

	return {
		tables: [latencyTable, throughputTable],
		summary: { overhead: { latency: latencyRows, throughput: rows, limiterWaits, rounds } }
	};
}

function signed(value: number, digits: number): string {
	return `${value < 0 ? '-' : '+'}${fixed(Math.abs(value), digits)}`;
}

async function timedPhase(workers: number, op: () => Promise<void>): Promise<Phase> {
	const latenciesMs: number[] = [];
	let started = 0;
	const start = performance.now();
	const deadline = start + PHASE_MS;
	const loop = async () => {
		while (started < PHASE_MAX_OPS && performance.now() < deadline) {
			started++;
			const begun = performance.now();
			await op();
			latenciesMs.push(performance.now() - begun);
		}
	};
	await Promise.all(Array.from({ length: workers }, loop));
	return { ops: latenciesMs.length, seconds: (performance.now() - start) / 1000, latenciesMs };
}

// ---------------------------------------------------------------- B. peak memory

type MemoryMode = 'baseline' | 'job-no-storage' | 'job';

const MEMORY_LABELS: Record<MemoryMode, string> = {
	baseline: `${MEMORY_JOBS} undici POSTs, bodies joined (BASELINE)`,
	'job-no-storage': `${MEMORY_JOBS} ImageJobs.run, no storage`,
	job: `${MEMORY_JOBS} ImageJobs.run + storage (the job)`
};

interface ProbeConfig {
	mode: MemoryMode;
	smallPort: number;
	largePort: number;
	imageBytes: number;
	jobs: number;
	storageRoot: string | null;
}

interface MemoryFigures {
	rss: number;
	heapUsed: number;
	external: number;
	arrayBuffers: number;
	/** heapUsed + arrayBuffers, sampled together. */
	held: number;
}

interface ProbeReport {
	mode: MemoryMode;
	gc: boolean;
	samples: number;
	seconds: number;
	baseline: MemoryFigures;
	/** Highest value of each figure over the run (each on its own; `held` is the highest sum). */
	peak: MemoryFigures;
	/** After the run, after a full GC, the 20 results still referenced. */
	afterGcHeld: MemoryFigures;
}

interface MemoryRow {
	mode: MemoryMode;
	/** Per job per image byte, median over the runs: peak held (heap + arrayBuffers) above the baseline. */
	heldPerJob: number;
	heldPerJobRange: [number, number];
	rssPerJob: number;
	rssPerJobRange: [number, number];
	arrayBuffersPerJob: number;
	heapPerJob: number;
	afterGcPerJob: number;
	peakHeldMb: number;
	peakRssMb: number;
	seconds: number;
	samples: number;
}

async function benchMemory(
	context: Parameters<Suite['run']>[0],
	smallPort: number,
	largePort: number,
	imageBytes: number
): Promise<SuiteResult> {
	const modes: MemoryMode[] = ['baseline', 'job-no-storage', 'job'];
	const reports: Record<MemoryMode, ProbeReport[]> = { baseline: [], 'job-no-storage': [], job: [] };
	for (let repeat = 0; repeat < MEMORY_REPEATS; repeat++) {
		for (const mode of modes) {
			context.log(`memory: run ${repeat + 1}/${MEMORY_REPEATS}, ${MEMORY_LABELS[mode]}, in a fresh process`);
			const storageRoot = mode === 'job' ? makeTempDir('generation-memory') : null;
			try {
				reports[mode].push(await runProbe({ mode, smallPort, largePort, imageBytes, jobs: MEMORY_JOBS, storageRoot }));
			} finally {
				if (storageRoot) removeTempDir(storageRoot);
			}
		}
	}

	const perJob = (bytes: number) => bytes / MEMORY_JOBS / imageBytes;
	const rows: MemoryRow[] = modes.map((mode) => {
		const list = reports[mode];
		const held = list.map((report) => perJob(report.peak.held - report.baseline.held));
		const rss = list.map((report) => perJob(report.peak.rss - report.baseline.rss));
		return {
			mode,
			heldPerJob: median(held),
			heldPerJobRange: [Math.min(...held), Math.max(...held)],
			rssPerJob: median(rss),
			rssPerJobRange: [Math.min(...rss), Math.max(...rss)],
			arrayBuffersPerJob: median(list.map((report) => perJob(report.peak.arrayBuffers - report.baseline.arrayBuffers))),
			heapPerJob: median(list.map((report) => perJob(report.peak.heapUsed - report.baseline.heapUsed))),
			afterGcPerJob: median(list.map((report) => perJob(report.afterGcHeld.held - report.baseline.held))),
			peakHeldMb: median(list.map((report) => (report.peak.held - report.baseline.held) / 1e6)),
			peakRssMb: median(list.map((report) => (report.peak.rss - report.baseline.rss) / 1e6)),
			seconds: median(list.map((report) => report.seconds)),
			samples: median(list.map((report) => report.samples))
		};
	});
	const gc = Object.values(reports).every((list) => list.every((report) => report.gc));
	const jobRows = rows.filter((row) => row.mode !== 'baseline');
	const pass = jobRows.every((row) => row.heldPerJob <= MEMORY_TARGET);
	const row = (mode: MemoryMode) => rows.find((entry) => entry.mode === mode) as MemoryRow;
	const range = ([low, high]: [number, number]) => `${fixed(low, 2)}-${fixed(high, 2)}`;

	const table: Table = {
		title: `B. Peak memory: ${MEMORY_JOBS} jobs in flight, each answered a ${fixed(imageBytes / 1e6, 2)} MB PNG (${integer(imageBytes)} B)`,
		columns: [
			'run',
			'heap+AB MB',
			'per job / image',
			'(range)',
			'RSS MB',
			'per job / image',
			'(range)',
			'AB / image',
			'heap / image',
			'after GC / image',
			'seconds',
			'target'
		],
		rows: rows.map((entry) => [
			MEMORY_LABELS[entry.mode],
			fixed(entry.peakHeldMb, 0),
			fixed(entry.heldPerJob, 2),
			range(entry.heldPerJobRange),
			fixed(entry.peakRssMb, 0),
			fixed(entry.rssPerJob, 2),
			range(entry.rssPerJobRange),
			fixed(entry.arrayBuffersPerJob, 2),
			fixed(entry.heapPerJob, 2),
			fixed(entry.afterGcPerJob, 2),
			fixed(entry.seconds, 2),
			entry.mode === 'baseline' ? '' : `<= ${MEMORY_TARGET} ${entry.heldPerJob <= MEMORY_TARGET ? 'PASS' : 'FAIL'}`
		]),
		notes: [
			`Jobs: ${MEMORY_JOBS}, started together (provider maxConcurrent ${MEMORY_JOBS}, so all are in flight); image: ${integer(imageBytes)} B` +
				` (${LARGE_SIDE}x${LARGE_SIDE} random RGB, PNG compression 0).`,
			`Each line: median of ${MEMORY_REPEATS} runs, each in a fresh process (range = lowest-highest run). Before a run: a warm-up on the small PNG`,
			`  (loads sharp, SQLite, undici's parser), then ${gc ? 'a forced full GC (gc exposed at run time: v8.setFlagsFromString + vm)' : 'no GC (not available)'}` +
				', then the baseline process.memoryUsage().',
			`process.memoryUsage() sampled every ${SAMPLE_EVERY_MS} ms (median ${integer(row('job').samples)} samples per job run). MB columns: peak above the baseline.`,
			`per job / image = peak above the baseline / ${MEMORY_JOBS} / image bytes; heap+AB = heapUsed + arrayBuffers, sampled together.`,
			'  The caller holds all results until the last job ends (as Promise.all does), so 1.00 is the floor: the image delivered.',
			'after GC / image: heap+AB above the baseline after the run and a full GC, results still referenced: the copy a job',
			'  keeps (the image it returns). What a job holds: the response as ~64 KB socket chunks, joined once by HttpClient into',
			'  the one Buffer that the stability provider, the sharp header reads (no decode) and saveImage (FileHandle.writeFile of',
			'  that Buffer, no copy) all share. The peak above 1.00 is chunks not yet collected when the joins happen (2.00 if none were).',
			`Copies per job at the peak: baseline ${fixed(row('baseline').heldPerJob, 2)}, ImageJobs without storage` +
				` ${fixed(row('job-no-storage').heldPerJob, 2)}, with storage ${fixed(row('job').heldPerJob, 2)}: the job and the save add no copy` +
				' of their own (compare the AB column); RSS differences between lines are within the run-to-run ranges.',
			`Target: the job's heap+AB per job / image <= ${MEMORY_TARGET} -> ${pass ? 'PASS' : 'FAIL'}. A copy made and freed between two samples` +
				` (${SAMPLE_EVERY_MS} ms apart at best) can be missed.`
		]
	};

	return {
		tables: [table],
		summary: { memory: { jobs: MEMORY_JOBS, imageBytes, gc, rows, reports, target: { perJobPerImage: MEMORY_TARGET, pass } } }
	};
}

function runProbe(config: ProbeConfig): Promise<ProbeReport> {
	const child = fork(THIS_FILE, [], {
		env: { ...process.env, [ROLE_ENV]: 'memory-probe', [CONFIG_ENV]: JSON.stringify(config) },
		stdio: ['ignore', 'ignore', 'inherit', 'ipc']
	});
	return new Promise((resolve, reject) => {
		let report: ProbeReport | undefined;
		child.on('message', (message) => (report = message as ProbeReport));
		child.once('error', reject);
		child.once('exit', (code, signal) => {
			if (report && code === 0) resolve(report);
			else reject(new Error(`memory probe (${config.mode}) exited with ${signal ?? code} without a report`));
		});
	});
}

/** The child side of `runProbe`: warm up, settle, then run `jobs` at once and report the peaks. */
async function memoryProbe(config: ProbeConfig): Promise<ProbeReport> {
	const gc = exposeGc();
	const closers: (() => Promise<void>)[] = [];
	let warm: () => Promise<unknown>;
	let run: () => Promise<unknown>;
	let check: (result: unknown) => void;
	if (config.mode === 'baseline') {
		const small = new DirectCall(config.smallPort, 2);
		const large = new DirectCall(config.largePort, config.jobs);
		closers.push(
			() => small.close(),
			() => large.close()
		);
		warm = () => small.call();
		run = () => large.call();
		check = (body) => {
			if ((body as Buffer).length !== config.imageBytes) throw new Error('baseline read another body than the fake server sent');
		};
	} else {
		const storage = config.storageRoot ? await StorageManager.open({ ...GENEROUS, storageRoot: config.storageRoot }) : undefined;
		const small = ImageGenerator.create(generationOptions(config.smallPort, 2));
		const large = ImageGenerator.create(generationOptions(config.largePort, config.jobs));
		const smallJobs = new ImageJobs(small, () => storage, JOB_OPTIONS);
		const largeJobs = new ImageJobs(large, () => storage, JOB_OPTIONS);
		closers.push(
			() => small.close(),
			() => large.close(),
			async () => storage?.close()
		);
		warm = async () => {
			const result = await smallJobs.run({ kind: 'text-to-image', request: { prompt: PROMPT }, userId: nextUser() });
			if (!result.ok) throw new Error(`warm-up job failed: ${result.reason} ${result.message}`);
		};
		run = () => largeJobs.run({ kind: 'text-to-image', request: { prompt: PROMPT }, userId: nextUser() });
		check = (result) => checkJob(result as JobResult, config.imageBytes, !!storage);
	}

	for (let index = 0; index < 5; index++) await warm();
	await Promise.all(Array.from({ length: 4 }, warm));
	if (!gc) await Promise.all(Array.from({ length: config.jobs }, run)); // no GC: settle on a full round instead
	await settle(gc);

	const baseline = figures();
	const peak = { ...baseline };
	let samples = 0;
	const sample = () => {
		const now = figures();
		samples++;
		for (const key of Object.keys(peak) as (keyof MemoryFigures)[]) peak[key] = Math.max(peak[key], now[key]);
	};
	const timer = setInterval(sample, SAMPLE_EVERY_MS);
	const started = performance.now();
	const results = await Promise.all(Array.from({ length: config.jobs }, run));
	const seconds = (performance.now() - started) / 1000;
	sample();
	clearInterval(timer);
	for (const result of results) check(result);
	await settle(gc);
	const afterGcHeld = figures();
	results.length = 0;
	for (const close of closers) await close();
	return { mode: config.mode, gc: gc !== undefined, samples, seconds, baseline, peak, afterGcHeld };
}

function figures(): MemoryFigures {
	const usage = process.memoryUsage();
	return {
		rss: usage.rss,
		heapUsed: usage.heapUsed,
		external: usage.external,
		arrayBuffers: usage.arrayBuffers,
		held: usage.heapUsed + usage.arrayBuffers
	};
}

async function settle(gc: (() => void) | undefined): Promise<void> {
	for (let index = 0; index < 3; index++) {
		gc?.();
		await sleep(20); // array buffer backing stores are freed off the main thread
	}
}

/** `global.gc` when the process has it, else exposed at run time (no --expose-gc flag, no change to package.json). */
function exposeGc(): (() => void) | undefined {
	const existing = (globalThis as { gc?: () => void }).gc;
	if (existing) return existing;
	try {
		setFlagsFromString('--expose-gc');
		const gc: unknown = runInNewContext('gc');
		return typeof gc === 'function' ? (gc as () => void) : undefined;
	} catch {
		return undefined;
	}
}

// ---------------------------------------------------------------- the fake Stability server

interface FakeServer {
	pid: number;
	ports: number[];
	stop(): Promise<void>;
}

/** Forks this file as the fake server: one port per PNG, each answering POST GENERATE_PATH with that PNG. */
async function startFakeServer(pngPaths: string[]): Promise<FakeServer> {
	const child = fork(THIS_FILE, [], {
		env: { ...process.env, [ROLE_ENV]: 'server', [CONFIG_ENV]: JSON.stringify(pngPaths) },
		stdio: ['ignore', 'ignore', 'inherit', 'ipc']
	});
	const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
	const ports = await new Promise<number[]>((resolve, reject) => {
		child.once('message', (message) => resolve((message as { ports: number[] }).ports));
		child.once('error', reject);
		void exited.then(() => reject(new Error('the fake Stability server exited before listening')));
	});
	return {
		pid: child.pid ?? -1,
		ports,
		async stop() {
			if (child.exitCode === null && child.signalCode === null) child.kill();
			await exited;
		}
	};
}

async function serveFakeStability(pngPaths: string[]): Promise<void> {
	const ports: number[] = [];
	for (const path of pngPaths) {
		const png = readFileSync(path);
		const server = createServer({ keepAliveTimeout: 60_000 }, (request, response) => answer(request, response, png));
		await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
		ports.push((server.address() as AddressInfo).port);
	}
	// The parent gone (or killed), nothing is left to serve.
	process.once('disconnect', () => process.exit(0));
	process.send?.({ ports });
}

function answer(request: IncomingMessage, response: ServerResponse, png: Buffer): void {
	let bytes = 0;
	request.on('data', (chunk: Buffer) => (bytes += chunk.length));
	// The whole multipart body is read before answering, as a real server would before generating.
	request.on('end', () => {
		const multipart = (request.headers['content-type'] ?? '').startsWith('multipart/form-data');
		if (request.method !== 'POST' || request.url !== GENERATE_PATH || !multipart || bytes === 0) {
			response.writeHead(404, { 'content-type': 'application/json' }).end('{"name":"not_found","errors":["not found"]}');
			return;
		}
		response.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length, 'finish-reason': 'SUCCESS', seed: '1' });
		response.end(png);
	});
}

// ---------------------------------------------------------------- child entry points

const role = process.env[ROLE_ENV];
if (role === 'server') {
	await serveFakeStability(JSON.parse(process.env[CONFIG_ENV] ?? '[]') as string[]);
} else if (role === 'memory-probe') {
	const report = await memoryProbe(JSON.parse(process.env[CONFIG_ENV] ?? '{}') as ProbeConfig);
	process.send?.(report, () => process.exit(0));
}
