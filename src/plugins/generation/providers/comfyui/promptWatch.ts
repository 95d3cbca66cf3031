import { WebSocket, type Dispatcher } from 'undici';
import { parseMessage, type ComfyEvent, type HistoryOutcome, type ImageRef, type QueuePlace } from './comfyMessages.js';

export interface PromptWatchOptions {
	/** ws:// or wss:// address of ComfyUI's `/ws?clientId=` for this job's client id. */
	url: string;
	headers: Record<string, string>;
	/** Carries the websocket's limits (its largest message). */
	dispatcher: Dispatcher;
	/** How long the websocket may take to open before the job falls back to polling. */
	connectTimeoutMs: number;
}

export interface FollowOptions {
	promptId: string;
	/** No sign of life for this long is a stall: the job ends with TIMEOUT. */
	stallMs: number;
	/** How often /history and /queue are read when there is no websocket. */
	pollIntervalMs: number;
	readQueue: () => Promise<QueuePlace | null>;
	readHistory: () => Promise<HistoryOutcome | null>;
	signal?: AbortSignal;
	onQueued?: (position: number) => void;
	onStarted?: () => void;
	onProgress?: (value: number, max: number) => void;
}

export type WatchOutcome =
	| { kind: 'done'; images: ImageRef[] }
	| { kind: 'error'; message: string }
	| { kind: 'interrupted' }
	| { kind: 'stalled' }
	| { kind: 'cancelled' };

/**
 * Follows one prompt to its end. Progress comes from ComfyUI's websocket (each job has its own client id,
 * so every message on it concerns this job or the queue); when the socket cannot be opened, or drops, it
 * falls back to polling `/history/{id}` (done? failed?) and `/queue` (place, started?). Binary frames carry
 * sampler previews: they are ignored (and capped in size by the dispatcher). The socket is opened before
 * the prompt is submitted, so no message of a fast (or cached) prompt is missed; messages that arrive
 * before `follow` is called are kept for it.
 */
export class PromptWatch {
	readonly #socket: WebSocket | null;
	readonly #early: ComfyEvent[] = [];
	#onEvent: ((event: ComfyEvent) => void) | null = null;
	#onDrop: (() => void) | null = null;
	#dropped: boolean;

	private constructor(socket: WebSocket | null) {
		this.#socket = socket;
		this.#dropped = socket === null;
		socket?.addEventListener('message', (message) => {
			// Binary frames are previews; only JSON text is read.
			if (typeof message.data !== 'string') return;
			const event = parseMessage(message.data);
			if (!event) return;
			if (this.#onEvent) this.#onEvent(event);
			else this.#early.push(event);
		});
		socket?.addEventListener('close', () => {
			this.#dropped = true;
			this.#onDrop?.();
		});
	}

	/** Opens the websocket; resolves (never rejects) once it is open, or failed or timed out (then the watch polls). */
	public static open(options: PromptWatchOptions): Promise<PromptWatch> {
		return new Promise((resolve) => {
			let socket: WebSocket;
			try {
				socket = new WebSocket(options.url, { headers: options.headers, dispatcher: options.dispatcher });
			} catch {
				resolve(new PromptWatch(null));
				return;
			}
			socket.binaryType = 'arraybuffer';
			const settle = (open: boolean) => {
				clearTimeout(timer);
				socket.removeEventListener('open', onOpen);
				socket.removeEventListener('error', onFail);
				socket.removeEventListener('close', onFail);
				if (!open) socket.close();
				resolve(new PromptWatch(open ? socket : null));
			};
			const onOpen = () => settle(true);
			const onFail = () => settle(false);
			const timer = setTimeout(onFail, options.connectTimeoutMs);
			socket.addEventListener('open', onOpen);
			socket.addEventListener('error', onFail);
			socket.addEventListener('close', onFail);
		});
	}

	/** Whether progress comes from the websocket (false: polling). */
	public get live(): boolean {
		return !this.#dropped;
	}

	public follow(options: FollowOptions): Promise<WatchOutcome> {
		return new Promise((resolve) => {
			const images: ImageRef[] = [];
			let settled = false;
			let started = false;
			let position: number | null = null;
			let watchdog: NodeJS.Timeout | undefined;
			let poller: NodeJS.Timeout | undefined;
			let placing = false;
			let placeAgain = false;

			const finish = (outcome: WatchOutcome) => {
				if (settled) return;
				settled = true;
				clearTimeout(watchdog);
				clearTimeout(poller);
				options.signal?.removeEventListener('abort', onAbort);
				this.#onEvent = null;
				this.#onDrop = null;
				resolve(outcome);
			};
			const alive = () => {
				clearTimeout(watchdog);
				watchdog = setTimeout(() => finish({ kind: 'stalled' }), options.stallMs);
			};
			const start = () => {
				if (started) return;
				started = true;
				options.onStarted?.();
			};
			const onAbort = () => finish({ kind: 'cancelled' });

			/** Reports the place in the queue while waiting, or the start. True when something changed. */
			const observePlace = (place: QueuePlace | null): boolean => {
				if (settled || !place || started) return false;
				if (place.state === 'running') {
					start();
					return true;
				}
				if (place.state === 'pending' && place.position !== position) {
					position = place.position;
					options.onQueued?.(position);
					return true;
				}
				return false;
			};
			const refreshPlace = async () => {
				// One read at a time; a change meanwhile asks for one more.
				if (placing) {
					placeAgain = true;
					return;
				}
				placing = true;
				do {
					placeAgain = false;
					observePlace(await options.readQueue());
				} while (placeAgain && !settled);
				placing = false;
			};

			const onEvent = (event: ComfyEvent) => {
				// Only this job's client id gets these; a prompt id of another prompt would be a stray message.
				if (event.promptId !== undefined && event.promptId !== options.promptId) return;
				alive();
				switch (event.type) {
					case 'status':
						if (!started) void refreshPlace();
						break;
					case 'execution_start':
						start();
						break;
					case 'executing':
						if (event.node === null) finish({ kind: 'done', images });
						else start();
						break;
					case 'progress':
						start();
						options.onProgress?.(event.value, event.max);
						break;
					case 'executed':
						start();
						images.push(...event.images);
						break;
					case 'execution_success':
						finish({ kind: 'done', images });
						break;
					case 'execution_error':
						finish({ kind: 'error', message: event.message });
						break;
					case 'execution_interrupted':
						finish({ kind: 'interrupted' });
						break;
				}
			};

			const poll = async () => {
				if (settled) return;
				const history = await options.readHistory();
				if (settled) return;
				if (history?.done) {
					if (history.error !== undefined) return finish({ kind: 'error', message: history.error });
					if (history.interrupted) return finish({ kind: 'interrupted' });
					return finish({ kind: 'done', images: history.images });
				}
				if (observePlace(await options.readQueue())) alive();
				if (!settled) poller = setTimeout(() => void poll(), options.pollIntervalMs);
			};

			if (options.signal?.aborted) return finish({ kind: 'cancelled' });
			options.signal?.addEventListener('abort', onAbort, { once: true });
			alive();
			if (this.#dropped) {
				void poll();
				return;
			}
			this.#onEvent = onEvent;
			this.#onDrop = () => void poll();
			for (const event of this.#early.splice(0)) onEvent(event);
			void refreshPlace();
		});
	}

	public close(): void {
		this.#onEvent = null;
		this.#onDrop = null;
		if (this.#socket && this.#socket.readyState <= WebSocket.OPEN) this.#socket.close();
	}
}
