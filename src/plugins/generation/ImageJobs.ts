import type { Failure } from '../shared/Failure.js';
import type { QuotaStatus } from '../storage/QuotaStatus.js';
import type { Reservation, StorageManager, StoredImage } from '../storage/StorageManager.js';
import type { StorageFailureReason } from '../storage/StorageResult.js';
import {
	generationFailure,
	generationMessages,
	type GeneratedImage,
	type GenerationFailureReason,
	type GenerationResult
} from './GenerationResult.js';
import { creditCostOf, type CreditCosts } from './creditCosts.js';
import type { ImageGenerator } from './ImageGenerator.js';
import type { ImageToImageRequest, ProviderCall, TextToImageRequest, UpscaleRequest } from './requests.js';

export type JobInput =
	| { kind: 'text-to-image'; request: TextToImageRequest }
	| { kind: 'image-to-image'; request: ImageToImageRequest; sourceImageId?: string }
	| { kind: 'upscale'; request: UpscaleRequest; sourceImageId?: string };

export type JobKind = JobInput['kind'];

/**
 * What a job is doing, for a reply that shows progress: its place in a queue (the bot's own, or the provider's:
 * ComfyUI's real queue), generating (with the provider's step count when it reports one), saving.
 */
export type JobStatus =
	| { state: 'queued'; position: number }
	| { state: 'generating'; startedAt: number; progress?: { value: number; max: number } }
	| { state: 'saving' };

export type JobRequest = JobInput & {
	userId: string;
	/** The member's role ids, for role tiers. */
	roleIds?: readonly string[];
	/** The server the request comes from (its settings and blocklist apply); none in a DM. */
	guildId?: string | null;
	/** The channel it comes from, for the server's channel gate. */
	channelId?: string | null;
	/** Whether Discord marks that channel age-restricted (a thread: its parent), for the server's laxer setting there. */
	ageRestricted?: boolean;
	/** Store as a temp file (global cap only, cleaned up after N days) instead of in the user's gallery. */
	temp?: boolean;
	signal?: AbortSignal;
	onStatus?: (status: JobStatus) => void;
};

export interface JobSuccess {
	ok: true;
	image: GeneratedImage;
	/** Where the image was stored; null when the storage plugin is not registered. */
	stored: StoredImage | null;
	/** The user's quota after the job; null without the storage plugin. */
	status: QuotaStatus | null;
}

/** A job that did not store an image: any reason of either plugin, in the one failure shape. */
export type JobFailure = Failure<GenerationFailureReason | StorageFailureReason>;

export type JobResult = JobSuccess | JobFailure;

/** A reservation outlives its job's time-out by this much, so it never stops counting while the job runs. */
const RESERVATION_MARGIN_MS = 60_000;
/**
 * A job waiting for one of its user's running jobs to end asks the ledger again after this long (those jobs may run
 * in another process); a job of this process that ends wakes the waiters here at once.
 */
const JOB_START_POLL_MS = 500;

export interface ImageJobsOptions {
	jobTimeoutMs: number;
	dailyCost: { textToImage: number; imageToImage: number; upscale: number };
	/** Provider credits per job over the defaults (Stability's prices); default: the generator's `creditCosts`. */
	creditCosts?: CreditCosts;
}

/**
 * The one guarded generation job, shared by every command and the command-line tool: reserve quota
 * (atomically, before any paid call) -> call the provider -> save the image with its metadata, which
 * commits the reservation. Any failure, time-out or cancellation releases the reservation and stores
 * nothing. Works without the storage plugin too (no quota, nothing stored).
 */
export class ImageJobs {
	readonly #generator: ImageGenerator;
	readonly #storage: () => StorageManager | undefined;
	readonly #options: ImageJobsOptions;
	readonly #running = new Set<Promise<JobResult>>();
	readonly #shutdown = new AbortController();
	/** Wakes jobs waiting for a place among their user's running jobs: a job of this process just ended. */
	#jobEnded = new AbortController();
	#accepting = true;

	/** `storage` is read at each job: the storage plugin opens its ledger after this service is built. */
	public constructor(generator: ImageGenerator, storage: () => StorageManager | undefined, options?: ImageJobsOptions) {
		this.#generator = generator;
		this.#storage = storage;
		// By default, what the generator was configured with (jobTimeoutSeconds, dailyCost).
		this.#options = options ?? { jobTimeoutMs: generator.options.jobTimeoutSeconds * 1000, dailyCost: generator.options.dailyCost };
	}

	/** Jobs in flight now. */
	public get running(): number {
		return this.#running.size;
	}

	public run(job: JobRequest): Promise<JobResult> {
		if (!this.#accepting) return Promise.resolve({ ok: false, reason: 'UNAVAILABLE', message: generationMessages.shuttingDown });
		const pending = this.#run(job);
		this.#running.add(pending);
		// The caller handles the job's outcome; this bookkeeping branch must not turn a failure into an unhandled rejection.
		void pending
			.finally(() => {
				this.#running.delete(pending);
				this.#jobEnded.abort();
				this.#jobEnded = new AbortController();
			})
			.catch(() => undefined);
		return pending;
	}

	/**
	 * Stops taking jobs, lets running ones finish for up to `graceMs`, then cancels the rest (their
	 * reservations are released). Resolves when every job has settled.
	 */
	public async drain(graceMs: number): Promise<{ finished: number; cancelled: number }> {
		this.#accepting = false;
		const inFlight = [...this.#running];
		let timer: NodeJS.Timeout | undefined;
		const graceOver = new Promise<'grace-over'>((resolve) => (timer = setTimeout(() => resolve('grace-over'), graceMs)));
		const outcome = await Promise.race([Promise.allSettled(inFlight).then(() => 'done' as const), graceOver]);
		clearTimeout(timer);
		const cancelled = outcome === 'grace-over' ? this.#running.size : 0;
		if (cancelled > 0) this.#shutdown.abort(new Error('shutting down'));
		await Promise.allSettled(inFlight);
		return { finished: inFlight.length - cancelled, cancelled };
	}

	async #run(job: JobRequest): Promise<JobResult> {
		// Not AbortSignal.timeout(): inside AbortSignal.any() nothing else holds it, and on Node 20 a timeout signal
		// that was garbage-collected never fires, so a job waiting in a long queue would never time out.
		const deadline = new AbortController();
		const timer = setTimeout(
			() => deadline.abort(new DOMException('The job took longer than its time-out.', 'TimeoutError')),
			this.#options.jobTimeoutMs
		);
		try {
			return await this.#guarded(job, AbortSignal.any([deadline.signal, this.#shutdown.signal, ...(job.signal ? [job.signal] : [])]));
		} finally {
			clearTimeout(timer);
		}
	}

	async #guarded(job: JobRequest, signal: AbortSignal): Promise<JobResult> {
		const storage = this.#storage();
		let reservation = null;
		// The provider's laxer moderation level only where the controls put it in force (never without them).
		let laxModeration = false;
		if (storage) {
			// The owners' controls come before the quotas, and like them before any paid call.
			const refused = await storage.controls.screen({
				userId: job.userId,
				guildId: job.guildId,
				channelId: job.channelId,
				roleIds: job.roleIds,
				ageRestricted: job.ageRestricted,
				prompt: 'prompt' in job.request ? job.request.prompt : null
			});
			if (refused) return refused;
			laxModeration = await storage.controls.nsfwLaxInForce({ guildId: job.guildId, ageRestricted: job.ageRestricted });
			const held = await storage.reserve(job.userId, {
				roleIds: job.roleIds,
				guildId: job.guildId,
				temp: job.temp,
				cost: this.#costOf(job.kind),
				// Held as long as the job may run, so it keeps counting until it commits or is released.
				holdMs: this.#options.jobTimeoutMs + RESERVATION_MARGIN_MS,
				job: true,
				credits: this.#creditsOf(job.kind),
				...(job.kind === 'upscale' ? { estimatedBytes: Math.max(job.request.image.byteLength * 4, 1) } : {})
			});
			if (!held.ok) return held;
			reservation = held.reservation;
		}

		// Progress is a courtesy: a status callback that throws must not break (or leak) the job.
		const report = (status: JobStatus) => {
			try {
				job.onStatus?.(status);
			} catch {
				// ignored
			}
		};
		if (storage && reservation) {
			const waited = await this.#waitForStart(storage, reservation, signal, report).catch(async (error: unknown) => {
				await storage.release(reservation).catch(() => undefined);
				throw error;
			});
			if (waited) {
				await storage.release(reservation);
				return waited;
			}
		}
		let saved: Awaited<ReturnType<StorageManager['saveImage']>>;
		let image: GeneratedImage;
		let startedAt = Date.now();
		try {
			const result = await this.#generate(withModeration(job, laxModeration), {
				signal,
				onQueued: (position) => report({ state: 'queued', position }),
				onStarted: () => {
					startedAt = Date.now();
					report({ state: 'generating', startedAt });
				},
				onProgress: (value, max) => report({ state: 'generating', startedAt, progress: { value, max } })
			});
			if (!result.ok || !storage) {
				if (reservation) await storage?.release(reservation);
				return result.ok ? { ok: true, image: result.image, stored: null, status: null } : result;
			}
			image = result.image;
			report({ state: 'saving' });
			// saveImage commits the reservation, or releases it on any failure of its own.
			saved = await storage.saveImage({
				data: image.data,
				userId: job.userId,
				roleIds: job.roleIds,
				temp: job.temp,
				reservation: reservation ?? undefined,
				metadata: metadataOf(job, image)
			});
		} catch (error) {
			// Unexpected (a bug, a dead ledger): give the quota back before the error goes up.
			if (reservation) await storage?.release(reservation).catch(() => undefined);
			throw error;
		}
		if (!saved.ok) return saved;
		// The image is stored and charged: a status that cannot be read now must not turn that into a failure.
		const status = await storage.getQuotaStatus(job.userId, { roleIds: job.roleIds, guildId: job.guildId }).catch(() => null);
		return { ok: true, image, stored: saved.image, status };
	}

	/**
	 * Waits until the user's cap on running jobs lets this one start (MAX_JOBS_PER_USER: counted in the ledger, across
	 * processes), showing its place meanwhile. Null once started; the failure when its time ran out or it was cancelled.
	 */
	async #waitForStart(
		storage: StorageManager,
		reservation: Reservation,
		signal: AbortSignal,
		report: (status: JobStatus) => void
	): Promise<JobFailure | null> {
		let shown = 0;
		for (;;) {
			if (signal.aborted) {
				const timedOut = signal.reason instanceof DOMException && signal.reason.name === 'TimeoutError';
				return generationFailure('TIMEOUT', timedOut ? generationMessages.queueTimeout : generationMessages.cancelled);
			}
			const start = await storage.startJob(reservation);
			if (start.started) return null;
			if (start.position !== shown) report({ state: 'queued', position: (shown = start.position) });
			await pause(JOB_START_POLL_MS, AbortSignal.any([signal, this.#jobEnded.signal]));
		}
	}

	#generate(job: JobInput, call: ProviderCall): Promise<GenerationResult> {
		switch (job.kind) {
			case 'text-to-image':
				return this.#generator.textToImage(job.request, call);
			case 'image-to-image':
				return this.#generator.imageToImage(job.request, call);
			case 'upscale':
				return this.#generator.upscaleImage(job.request, call);
		}
	}

	/** The provider credits a job may spend (the provider and model in use, the configured costs over the defaults). */
	#creditsOf(kind: JobKind): number {
		const { provider, model } = this.#generator.describe();
		return creditCostOf(this.#options.creditCosts ?? this.#generator.options.creditCosts ?? {}, provider, model, kind);
	}

	#costOf(kind: JobKind): number {
		const costs = this.#options.dailyCost;
		return kind === 'text-to-image' ? costs.textToImage : kind === 'image-to-image' ? costs.imageToImage : costs.upscale;
	}
}

/** The job as the provider gets it: `laxModeration` is the controls' word, whatever the request said. */
function withModeration(job: JobInput, laxModeration: boolean): JobInput {
	switch (job.kind) {
		case 'text-to-image':
			return { ...job, request: { ...job.request, laxModeration } };
		case 'image-to-image':
			return { ...job, request: { ...job.request, laxModeration } };
		case 'upscale':
			return job;
	}
}

/** What is stored beside the image: enough to list it, re-roll it and credit the provider. */
function metadataOf(job: JobInput, image: GeneratedImage): Record<string, unknown> {
	const common = {
		kind: job.kind,
		provider: image.provider,
		model: image.model,
		seed: image.seed,
		width: image.width,
		height: image.height,
		preview: image.preview,
		// Said where it applies, so a reply (and a credit budget) can read it back from the stored image.
		...(image.unusedInputs?.length ? { unusedInputs: image.unusedInputs } : {}),
		...(image.usage ? { usage: image.usage } : {})
	};
	switch (job.kind) {
		case 'text-to-image':
			return { ...common, prompt: job.request.prompt, negativePrompt: job.request.negativePrompt, style: job.request.stylePreset };
		case 'image-to-image':
			return {
				...common,
				prompt: job.request.prompt,
				negativePrompt: job.request.negativePrompt,
				style: job.request.stylePreset,
				strength: job.request.strength,
				sourceImageId: job.sourceImageId
			};
		case 'upscale':
			return { ...common, sourceImageId: job.sourceImageId };
	}
}

/** Resolves after `ms`, or as soon as `signal` aborts (never rejects). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
	return new Promise((resolve) => {
		if (signal.aborted) return resolve();
		const done = () => {
			clearTimeout(timer);
			signal.removeEventListener('abort', done);
			resolve();
		};
		const timer = setTimeout(done, ms);
		signal.addEventListener('abort', done, { once: true });
	});
}
