import { CALLBACK_ROUTE, type InteractionTimeline, type RecordedRequest } from '../../helpers/discord/recorder.js';

const EPHEMERAL = 1 << 6;

/** What one interaction ended with, as the Discord stand-in recorded it. */
export type Outcome = { kind: 'image'; call: RecordedRequest } | { kind: 'private'; call: RecordedRequest };

/** The calls of an interaction that are what its user came for: a reply edited with an image, or an ephemeral follow-up. */
export function outcomesOf(timeline: InteractionTimeline): Outcome[] {
	return timeline.calls.flatMap((call): Outcome[] => {
		if (call.route === CALLBACK_ROUTE || call.status === null || call.status >= 300) return [];
		if (call.files.length > 0) return [{ kind: 'image', call }];
		const flags = (call.body as { flags?: number } | null)?.flags ?? 0;
		return call.method === 'POST' && (flags & EPHEMERAL) !== 0 ? [{ kind: 'private', call }] : [];
	});
}

/** Resolves once the interaction has its outcome (or rejects after `timeoutMs`). */
export async function waitForOutcome(timeline: InteractionTimeline, timeoutMs: number): Promise<Outcome> {
	const deadline = performance.now() + timeoutMs;
	for (;;) {
		const [outcome] = outcomesOf(timeline);
		if (outcome) return outcome;
		if (performance.now() > deadline) {
			const seen = timeline.calls.map((call) => `${call.method} ${call.route ?? call.path} -> ${call.status ?? '…'}`).join(', ');
			throw new Error(`Interaction ${timeline.name} (${timeline.id}) had no outcome within ${timeoutMs} ms; calls: ${seen || 'none'}`);
		}
		await new Promise((resolve) => setTimeout(resolve, 20));
	}
}
