import type { ComfyWorkflows, WorkflowNode } from './workflows.js';

/** The nodes text-to-image and image-to-image share: checkpoint, the two prompts, decode, save. */
const checkpoint: WorkflowNode = {
	class_type: 'CheckpointLoaderSimple',
	inputs: { ckpt_name: '{{checkpoint}}' },
	_meta: { title: 'Load Checkpoint' }
};
const prompt: WorkflowNode = { class_type: 'CLIPTextEncode', inputs: { text: '{{prompt}}', clip: ['4', 1] }, _meta: { title: 'Prompt' } };
const negative: WorkflowNode = {
	class_type: 'CLIPTextEncode',
	inputs: { text: '{{negative_prompt}}', clip: ['4', 1] },
	_meta: { title: 'Negative prompt' }
};
const decode: WorkflowNode = { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] }, _meta: { title: 'VAE Decode' } };
const save: WorkflowNode = {
	class_type: 'SaveImage',
	inputs: { filename_prefix: 'sapphire-imagine', images: ['8', 0] },
	_meta: { title: 'Save Image' }
};

/** The KSampler of both: the latent it starts from, and how much of it to change. */
function sampler(latent: string, denoise: number | string): WorkflowNode {
	return {
		class_type: 'KSampler',
		inputs: {
			seed: '{{seed}}',
			steps: '{{steps}}',
			cfg: '{{cfg}}',
			sampler_name: 'euler',
			scheduler: 'normal',
			denoise,
			model: ['4', 0],
			positive: ['6', 0],
			negative: ['7', 0],
			latent_image: [latent, 0]
		},
		_meta: { title: 'KSampler' }
	};
}

/**
 * The workflows shipped with the plugin, in ComfyUI's API format, with our placeholders (see workflows.ts).
 * They are TypeScript objects rather than .json files so every build (tsc, a bundler, a consumer's
 * node_modules) carries them without copying assets; an owner replaces any of them with a file of their own
 * (COMFYUI_WORKFLOWS). They use only nodes that ship with ComfyUI itself:
 *
 * - text-to-image: ComfyUI's own default graph (checkpoint, two prompts, empty latent, KSampler, decode, save).
 * - image-to-image: the same with the uploaded image encoded as the latent and `{{strength}}` as the denoise.
 * - upscale: RealESRGAN x4plus (the model file must be in ComfyUI's models/upscale_models), then scaled by
 *   0.5 with Lanczos: 2x in all. Without that model ComfyUI refuses the workflow, naming the file; the
 *   generator resizes whatever comes back to exactly the size asked.
 */
export const DEFAULT_WORKFLOWS: ComfyWorkflows = {
	'text-to-image': {
		'4': checkpoint,
		'5': {
			class_type: 'EmptyLatentImage',
			inputs: { width: '{{width}}', height: '{{height}}', batch_size: 1 },
			_meta: { title: 'Empty Latent Image' }
		},
		'6': prompt,
		'7': negative,
		'3': sampler('5', 1),
		'8': decode,
		'9': save
	},
	'image-to-image': {
		'4': checkpoint,
		'10': { class_type: 'LoadImage', inputs: { image: '{{image}}' }, _meta: { title: 'Load Image' } },
		'11': { class_type: 'VAEEncode', inputs: { pixels: ['10', 0], vae: ['4', 2] }, _meta: { title: 'VAE Encode' } },
		'6': prompt,
		'7': negative,
		'3': sampler('11', '{{strength}}'),
		'8': decode,
		'9': save
	},
	upscale: {
		'1': { class_type: 'LoadImage', inputs: { image: '{{image}}' }, _meta: { title: 'Load Image' } },
		'2': { class_type: 'UpscaleModelLoader', inputs: { model_name: 'RealESRGAN_x4plus.pth' }, _meta: { title: 'Load Upscale Model' } },
		'3': {
			class_type: 'ImageUpscaleWithModel',
			inputs: { upscale_model: ['2', 0], image: ['1', 0] },
			_meta: { title: 'Upscale Image (using Model)' }
		},
		'4': {
			class_type: 'ImageScaleBy',
			inputs: { image: ['3', 0], upscale_method: 'lanczos', scale_by: 0.5 },
			_meta: { title: 'Scale 4x down to 2x' }
		},
		'5': {
			class_type: 'SaveImage',
			inputs: { filename_prefix: 'sapphire-imagine-upscale', images: ['4', 0] },
			_meta: { title: 'Save Image' }
		}
	}
};
