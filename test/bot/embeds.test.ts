import type { StoredImage } from '../../src/plugins/storage/index.js';
import type { QuotaStatus } from '../../src/plugins/storage/index.js';
import { describe, expect, it } from 'vitest';
import { buildCleanupEmbed, buildResetEmbed } from '../../src/lib/responses/adminEmbeds.js';
import { imageChoices, styleChoices } from '../../src/lib/responses/autocompleteChoices.js';
import { imageGone, notYours } from '../../src/lib/responses/buttonNotices.js';
import { galleryPageId, parseGalleryPageId, parseResultButtonId, RESULT_ACTIONS, resultButtonId } from '../../src/lib/discord/customIds.js';
import { buildDenialEmbed } from '../../src/lib/responses/denialEmbed.js';
import { buildErrorEmbed, newErrorReference } from '../../src/lib/responses/errorEmbed.js';
import { buildFailureEmbed } from '../../src/lib/responses/failureEmbed.js';
import { embedLength, fitEmbed } from '../../src/lib/responses/fitEmbed.js';
import { renderGalleryPage } from '../../src/lib/images/contactSheet.js';
import { imageMessageFor } from '../../src/lib/images/imageMessage.js';
import type { ImageDetails } from '../../src/lib/responses/imageDetails.js';
import { progressText } from '../../src/lib/responses/progress.js';
import { buildQuotaEmbed } from '../../src/lib/responses/quotaEmbed.js';
import { buildReportEmbed } from '../../src/lib/responses/reportEmbed.js';
import { deletedImageEmbed } from '../../src/lib/responses/resultMessage.js';
import { truncate } from '../../src/plugins/shared/truncate.js';
import { STYLE_PRESETS } from '../../src/plugins/generation/index.js';
import { makeTempDir } from '../helpers/storageFixtures.js';
import { noisyPng, samplePng } from './helpers/attachmentServer.js';
import { normalize } from './helpers/fakeInteractions.js';
import { EXTREME_TEXTS, expectEmbedWithinLimits, expectMessageWithinLimits } from './helpers/limits.js';

const MAX_SNOWFLAKE = '18446744073709551615';
const IMAGE_ID = 'zzzzzzzzzzzzzzzz';

function status(source: QuotaStatus['limits']['source'] = 'default', extreme = false): QuotaStatus {
	const big = extreme ? 1e12 : 1;
	return {
		global: {
			usedMb: 4321.5 * big,
			totalMb: 5000,
			percentage: 86.4 * big,
			level: 'WARNING',
			status: 'WARNING',
			usedBytes: 4.5e9 * big,
			totalBytes: 5.2e9,
			files: 123456 * big,
			tempMb: 12.5,
			allowed: true
		},
		user: {
			usedMb: 45.2 * big,
			limitMb: 500,
			percentage: 9 * big,
			level: 'OK',
			status: 'OK',
			usedBytes: 4.7e7 * big,
			limitBytes: 5.2e8,
			files: 42 * big,
			allowed: true
		},
		daily: { used: 2 * big, pending: 1, limit: 5, remaining: 2, allowed: true, resetsAt: new Date(Date.UTC(2026, 10, 22)) },
		limits: source === 'tier' ? { source, tierName: extreme ? 'T'.repeat(300) : 'Supporter' } : { source }
	};
}

function details(text: string, overrides: Partial<ImageDetails> = {}): ImageDetails {
	return {
		id: IMAGE_ID,
		kind: 'text-to-image',
		prompt: text,
		negativePrompt: [...text].slice(0, 1000).join(''),
		style: 'modeling-compound',
		seed: 4294967294,
		strength: 0.35,
		provider: 'stability',
		model: 'sd3.5-large-turbo',
		width: 1536,
		height: 640,
		preview: false,
		unusedInputs: [],
		sourceImageId: null,
		createdAt: new Date(),
		mimeType: 'image/png',
		bytes: 1_500_000,
		...overrides
	};
}

describe('every embed the bot sends stays within Discord’s limits, whatever the input', () => {
	for (const [label, text] of Object.entries(EXTREME_TEXTS)) {
		it(`results, progress, gallery and choices with ${label}`, async () => {
			const png = await samplePng(64, 64);
			for (const kind of ['text-to-image', 'image-to-image', 'upscale', 'unknown'] as const) {
				for (const preview of [true, false]) {
					const message = await imageMessageFor({
						details: details(text, { kind, preview }),
						data: png,
						owner: { id: MAX_SNOWFLAKE, name: text, avatarUrl: null },
						status: status('tier', true),
						attachmentLimit: 10 * 1024 * 1024,
						heading: kind === 'unknown' ? text : undefined
					});
					expectMessageWithinLimits(normalize(message));
				}
			}
			expect(
				progressText({ kind: 'text-to-image', prompt: text, status: { state: 'queued', position: 999_999 }, elapsedMs: 1e12 }).length
			).toBeLessThanOrEqual(2000);

			const temp = await makeTempDir();
			try {
				const images: StoredImage[] = Array.from({ length: 30 }, (_, index) => ({
					id: `${String(index).padStart(2, '0')}zzzzzzzzzzzzzz`,
					userId: MAX_SNOWFLAKE,
					name: 'x',
					bytes: 1e12,
					createdAt: new Date(),
					temp: false,
					mimeType: 'image/png',
					path: `${temp.dir}/missing-${index}.png`,
					metadata: { prompt: text, kind: 'text-to-image' }
				}));
				const page = await renderGalleryPage({ ownerId: MAX_SNOWFLAKE, ownerName: text, images, page: 1 });
				expectMessageWithinLimits(normalize(page));
				expect(page.pages).toBe(3);
				for (const choice of imageChoices(images, '')) {
					expect(choice.name.length).toBeGreaterThan(0);
					expect(choice.name.length).toBeLessThanOrEqual(100);
				}
				expect(imageChoices(images, '')).toHaveLength(25);
			} finally {
				await temp.cleanup();
			}
		});

		it(`denials, failures, errors, quota, report and admin embeds with ${label}`, () => {
			for (const reason of ['DAILY_LIMIT', 'USER_QUOTA', 'GLOBAL_QUOTA', 'QUOTA_UNAVAILABLE', 'OwnerOnly', text]) {
				expectEmbedWithinLimits(buildDenialEmbed({ reason, message: text.repeat(3), status: status('tier', true) }).toJSON());
				expectEmbedWithinLimits(buildDenialEmbed({ reason, message: text }).toJSON());
			}
			expectEmbedWithinLimits(buildFailureEmbed({ reason: 'RATE_LIMITED', message: text.repeat(3), retryAfterMs: 1e12 }).toJSON());
			expectEmbedWithinLimits(buildErrorEmbed(newErrorReference()).toJSON());
			for (const source of ['default', 'tier', 'owner', 'override'] as const) {
				expectEmbedWithinLimits(buildQuotaEmbed(status(source, true), { name: text, self: false, note: text.repeat(3) }).toJSON());
			}
			const topUsers = Array.from({ length: 100 }, () => ({ userId: MAX_SNOWFLAKE, bytes: 1e15, files: 1e9, usedMb: 1e9 }));
			const credits = {
				today: { spent: 1e9 + 0.125, reserved: 1e9, budget: 1e9 },
				last30Days: Array.from({ length: 30 }, (_, index) => ({
					day: `2026-11-${String(index + 1).padStart(2, '0')}`,
					spent: 1e9,
					generations: 1e9
				}))
			};
			expectEmbedWithinLimits(buildReportEmbed({ global: status('default', true).global, tempFiles: 1e9, topUsers, credits }).toJSON());
			expectEmbedWithinLimits(buildCleanupEmbed({ deleted: 1e9, freedMb: 1e9 }, 1e6).toJSON());
			expectEmbedWithinLimits(
				buildResetEmbed(MAX_SNOWFLAKE, { daily: { previous: 1e9 }, storage: { deleted: 1e9, failed: 1e9, freedMb: 1e9 } }).toJSON()
			);
			expectEmbedWithinLimits(deletedImageEmbed(IMAGE_ID, 1e9).toJSON());
			expectEmbedWithinLimits(notYours(MAX_SNOWFLAKE).toJSON());
			expectEmbedWithinLimits(imageGone().toJSON());
			for (const choice of styleChoices(STYLE_PRESETS, text)) expect(choice.name.length).toBeLessThanOrEqual(100);
		});
	}

	it('fitEmbed cuts every part to its limit and the whole to 6000, without splitting a grapheme', () => {
		const family = '👩‍👩‍👧‍👦';
		const huge = family.repeat(5000);
		const fitted = fitEmbed({
			title: huge,
			description: huge,
			author: { name: huge },
			footer: { text: huge },
			fields: Array.from({ length: 40 }, () => ({ name: huge, value: huge }))
		});
		expectEmbedWithinLimits(fitted);
		expect(embedLength(fitted)).toBeLessThanOrEqual(6000);
		expect(fitted.title!.endsWith('…')).toBe(true);
		expect(fitted.title!.slice(0, -1).length % family.length).toBe(0);
		expect(fitEmbed({ title: '', fields: [{ name: '', value: '' }] }).fields).toEqual([{ name: '\u200b', value: '\u200b' }]);
		const small = { title: 'ok', description: 'fine', fields: [{ name: 'a', value: 'b' }] };
		expect(fitEmbed(small)).toEqual(small);
	});

	it('truncate never leaves a lone backslash from an escape at the cut', () => {
		expect(truncate('ab\\*cd', 4)).toBe('ab…');
		expect(truncate('ab\\\\cd', 5)).toBe('ab\\\\…');
	});
});

describe('custom ids', () => {
	it('fit in 100 characters with the longest ids, and read back', () => {
		for (const action of RESULT_ACTIONS) {
			const id = resultButtonId(action, MAX_SNOWFLAKE, IMAGE_ID);
			expect(id.length).toBeLessThanOrEqual(100);
			expect(parseResultButtonId(id)).toEqual({ action, ownerId: MAX_SNOWFLAKE, imageId: IMAGE_ID });
		}
		const page = galleryPageId(MAX_SNOWFLAKE, 999_999, 'next');
		expect(page.length).toBeLessThanOrEqual(100);
		expect(parseGalleryPageId(page)).toEqual({ ownerId: MAX_SNOWFLAKE, page: 999_999 });
	});

	it('refuse anything forged or foreign', () => {
		for (const id of [
			'imagine:explode:123456789012345678:zzzzzzzzzzzzzzzz',
			'imagine:delete:12345:zzzzzzzzzzzzzzzz',
			'imagine:delete:123456789012345678:../../etc/passwd',
			'imagine:delete:123456789012345678:zzzzzzzzzzzzzzzz:extra',
			'other:delete:123456789012345678:zzzzzzzzzzzzzzzz',
			''
		]) {
			expect(parseResultButtonId(id)).toBeNull();
		}
		expect(parseGalleryPageId('imagine:page:123456789012345678:-1:prev')).toBeNull();
		expect(parseGalleryPageId('imagine:page:123456789012345678:1:sideways')).toBeNull();
	});
});

describe('what the provider did not use, and cannot do', () => {
	it('an OpenAI result shows no seed and says which inputs were not applied', async () => {
		const message = normalize(
			await imageMessageFor({
				details: details('a fox', { provider: 'openai', model: 'gpt-image-1', seed: null, unusedInputs: ['seed', 'negativePrompt'] }),
				data: await samplePng(64, 64),
				owner: { id: MAX_SNOWFLAKE },
				attachmentLimit: 10 * 1024 * 1024
			})
		);
		const fields = message.embeds[0]!.fields ?? [];
		expect(fields.map((field) => field.name)).not.toContain('Seed');
		expect(fields).toEqual(
			expect.arrayContaining([
				{ name: 'Avoid (not used)', value: expect.any(String) },
				{ name: 'Provider', value: 'OpenAI · gpt-image-1', inline: true },
				{ name: 'Not used', value: 'The seed and the negative prompt had no effect: OpenAI does not take them.' }
			])
		);
	});

	it('buttons the provider cannot serve are left out (OpenAI: no Upscale; dall-e-3: no Vary either)', async () => {
		const actions = async (supports: { imageToImage: boolean; upscale: boolean }) => {
			const message = normalize(
				await imageMessageFor({
					details: details('a fox'),
					data: await samplePng(64, 64),
					owner: { id: MAX_SNOWFLAKE },
					attachmentLimit: 10 * 1024 * 1024,
					supports
				})
			);
			return message.components[0]!.components.map((button) => parseResultButtonId(button.custom_id!)?.action);
		};
		expect(await actions({ imageToImage: true, upscale: true })).toEqual(['upscale', 'reroll', 'vary', 'delete']);
		expect(await actions({ imageToImage: true, upscale: false })).toEqual(['reroll', 'vary', 'delete']);
		expect(await actions({ imageToImage: false, upscale: false })).toEqual(['reroll', 'delete']);
	});
});

describe('images larger than the upload limit', () => {
	it('are re-encoded (WebP, then JPEG, then smaller) to fit, and the reply says so', async () => {
		const big = await noisyPng(512, 512);
		const limit = Math.floor(big.byteLength / 3);
		const message = normalize(
			await imageMessageFor({
				details: details('noise', { width: 512, height: 512 }),
				data: big,
				owner: { id: MAX_SNOWFLAKE },
				attachmentLimit: limit
			})
		);
		const file = message.files[0]!;
		expect(file.data.byteLength).toBeLessThanOrEqual(limit);
		expect(file.name).toMatch(/^imagine-zzzzzzzzzzzzzzzz\.(webp|jpg)$/);
		expect(message.embeds[0]!.image?.url).toBe(`attachment://${file.name}`);
		const note = message.embeds[0]!.fields?.find((field) => field.name === 'Compressed for Discord')?.value;
		expect(note).toMatch(
			/^The original PNG \([\d.]+ (KB|MB)\) is over this server's [\d.]+ (KB|MB) upload limit, so it is shown as (WebP|JPEG) \(/
		);
		expect(note).toContain('The original is kept in your gallery.');
	});

	it('are sent unchanged when they fit', async () => {
		const png = await samplePng(64, 64);
		const message = normalize(
			await imageMessageFor({ details: details('x'), data: png, owner: { id: MAX_SNOWFLAKE }, attachmentLimit: png.byteLength })
		);
		expect(message.files[0]!.data.equals(png)).toBe(true);
		expect(message.embeds[0]!.fields?.map((field) => field.name)).not.toContain('Compressed for Discord');
	});

	it('are left out, with a note, when nothing fits', async () => {
		const message = normalize(
			await imageMessageFor({ details: details('x'), data: await noisyPng(256, 256), owner: { id: MAX_SNOWFLAKE }, attachmentLimit: 100 })
		);
		expect(message.files).toEqual([]);
		expect(message.embeds[0]!.image).toBeUndefined();
		expect(message.embeds[0]!.fields?.find((field) => field.name === 'Not shown')?.value).toContain('upload limit');
	});
});
