import { RequestLimiter } from './http/RequestLimiter.js';

/**
 * sharp pipelines that decode, draw or encode pixels, at most two at once in the whole process. sharp runs
 * each pipeline on one of libuv's threads, and that pool (4 threads unless UV_THREADPOOL_SIZE says otherwise)
 * is the one SQLite's queries and every file system call wait for too: two hundred preview renders queued on
 * it made a 0.3 ms ledger read take 0.3 to 1 s. Two at a time leave two threads for the ledger and the disk
 * and still keep both cores of a small machine busy (the README's architecture section has the figures).
 * Header reads (`metadata()`) take microseconds and do not come through here.
 */
const PIPELINES_AT_ONCE = 2;

const pipelines = new RequestLimiter({ maxConcurrent: PIPELINES_AT_ONCE });

/** Runs a sharp pipeline when one of the two places is free. */
export function runImageWork<T>(pipeline: () => Promise<T>): Promise<T> {
	return pipelines.run(pipeline);
}

/** Pipelines running and waiting now (for benchmarks and logs). */
export function imageWorkLoad(): { running: number; waiting: number } {
	return { running: pipelines.active, waiting: pipelines.queued };
}
