import type { CliIo } from './io.js';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const INTERVAL_MS = 200;
const CLEAR_LINE = '\r\u001b[2K';

/** A progress line on stderr: what is running and for how long. Does nothing unless stderr is a terminal. */
export interface Progress {
	/** Changes what the line says (e.g. "queued (position 2)" -> "generating"). */
	update(label: string): void;
	/** Clears the line; call it before printing the result. */
	stop(): void;
}

const silent: Progress = { update: () => undefined, stop: () => undefined };

/**
 * The services do not report progress as they go, so this shows the step and the elapsed time, redrawn every
 * 200 ms: enough to see a long clean-up or reconcile is alive. Piped or redirected, stderr stays quiet.
 */
export function startProgress(io: CliIo, label: string): Progress {
	if (!io.isTTY) return silent;
	const started = performance.now();
	let text = label;
	let frame = 0;
	const draw = () => {
		const seconds = ((performance.now() - started) / 1000).toFixed(1);
		io.stderr.write(`${CLEAR_LINE}${FRAMES[frame++ % FRAMES.length]} ${text} ${seconds} s`);
	};
	draw();
	const timer = setInterval(draw, INTERVAL_MS);
	timer.unref();
	let stopped = false;
	return {
		update: (next) => {
			text = next;
			if (!stopped) draw();
		},
		stop: () => {
			if (stopped) return;
			stopped = true;
			clearInterval(timer);
			io.stderr.write(CLEAR_LINE);
		}
	};
}

/** Runs `task` with a progress line that is cleared however the task ends. */
export async function withProgress<T>(io: CliIo, label: string, task: (progress: Progress) => Promise<T>): Promise<T> {
	const progress = startProgress(io, label);
	try {
		return await task(progress);
	} finally {
		progress.stop();
	}
}
