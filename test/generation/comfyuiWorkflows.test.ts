import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ImageGenerator } from '../../src/plugins/generation/ImageGenerator.js';
import { DEFAULT_WORKFLOWS } from '../../src/plugins/generation/providers/comfyui/defaultWorkflows.js';
import {
	fillWorkflow,
	loadWorkflowFolder,
	WORKFLOW_KINDS,
	WorkflowError,
	workflowProblems,
	type ComfyWorkflow
} from '../../src/plugins/generation/providers/comfyui/workflows.js';

const dirs: string[] = [];
afterEach(async () => {
	await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function folder(files: Record<string, string>): Promise<string> {
	const dir = await mkdtemp(join(tmpdir(), 'imagine-workflows-'));
	dirs.push(dir);
	for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
	return dir;
}

function errorOf(run: () => unknown): WorkflowError {
	try {
		run();
	} catch (error) {
		expect(error).toBeInstanceOf(WorkflowError);
		return error as WorkflowError;
	}
	throw new Error('expected a WorkflowError');
}

const upscale = (image: unknown = '{{image}}'): ComfyWorkflow => ({
	'1': { class_type: 'LoadImage', inputs: { image } },
	'2': { class_type: 'SaveImage', inputs: { filename_prefix: 'x', images: ['1', 0] } }
});

describe('the shipped workflows', () => {
	it.each(WORKFLOW_KINDS)('%s is valid API format with the placeholders it needs', (kind) => {
		expect(workflowProblems(DEFAULT_WORKFLOWS[kind], kind)).toEqual([]);
	});
});

describe('workflowProblems', () => {
	it('recognises the UI format and says how to export the API format', () => {
		expect(workflowProblems({ nodes: [], links: [], version: 0.4 }, 'upscale')).toEqual([
			'is in ComfyUI\'s UI format; save it with "Export (API)" (Workflow menu) and use that file'
		]);
	});

	it('names the placeholder that is missing, one that does not belong, and a link to a node that is not there', () => {
		const text = DEFAULT_WORKFLOWS['text-to-image'];
		const withoutSeed = JSON.parse(JSON.stringify(text).replace('"{{seed}}"', '7')) as unknown;
		expect(workflowProblems(withoutSeed, 'text-to-image')).toEqual([
			'lacks the placeholder {{seed}} (the seed (a random one when none is asked; the result reports it))'
		]);
		expect(workflowProblems(upscale('{{prompt}}'), 'upscale')).toEqual([
			'uses {{prompt}}, which upscale workflows do not fill; they may use {{image}}, {{checkpoint}}',
			'lacks the placeholder {{image}} (the name of the uploaded input image (a LoadImage image))'
		]);
		const broken = { ...upscale(), '2': { class_type: 'SaveImage', inputs: { filename_prefix: 'x', images: ['9', 0] } } };
		expect(workflowProblems(broken, 'upscale')).toEqual(['node "2" input "images" is wired to node "9", which is not in the workflow']);
		expect(workflowProblems({ '1': { inputs: {} } }, 'upscale')).toEqual(['node "1" is not { class_type, inputs } (ComfyUI API format)']);
		expect(workflowProblems([], 'upscale')).toEqual(['expected a JSON object of nodes (ComfyUI API format)']);
	});
});

describe('fillWorkflow', () => {
	it('puts numbers where a whole value is a placeholder and text inside longer strings, leaving the template as it was', () => {
		const template: ComfyWorkflow = {
			'1': { class_type: 'KSampler', inputs: { seed: '{{seed}}', denoise: '{{ strength }}', model: ['2', 0] } },
			'2': { class_type: 'CLIPTextEncode', inputs: { text: '{{prompt}}, masterpiece ({{seed}})' }, _meta: { title: '{{prompt}}' } }
		};
		const filled = fillWorkflow(template, { seed: 42, strength: 0.5, prompt: 'a cat' });
		expect(filled).toEqual({
			'1': { class_type: 'KSampler', inputs: { seed: 42, denoise: 0.5, model: ['2', 0] } },
			'2': { class_type: 'CLIPTextEncode', inputs: { text: 'a cat, masterpiece (42)' }, _meta: { title: '{{prompt}}' } }
		});
		expect(template['1']?.inputs.seed).toBe('{{seed}}');
	});
});

describe("loading an owner's folder", () => {
	it('reads the files present (the other kinds keep their defaults)', async () => {
		const dir = await folder({ 'upscale.json': JSON.stringify(upscale()), 'notes.txt': 'ignored' });
		expect(loadWorkflowFolder(dir)).toEqual({ upscale: upscale() });
	});

	it('a folder that does not exist, a file given as the folder, a folder with none of the three names', async () => {
		const dir = await folder({ 'text_to_image.json': '{}' });
		expect(errorOf(() => loadWorkflowFolder(join(dir, 'missing'))).message).toMatch(/^the folder .*missing cannot be read \(ENOENT\)$/);
		expect(errorOf(() => loadWorkflowFolder(join(dir, 'text_to_image.json'))).message).toMatch(/text_to_image\.json is not a folder$/);
		expect(errorOf(() => loadWorkflowFolder(dir)).message).toBe(
			`${dir} holds none of text-to-image.json, image-to-image.json, upscale.json`
		);
	});

	it('names the file that is not JSON, and the file that lacks a placeholder', async () => {
		const bad = await folder({ 'upscale.json': '{ "1": ' });
		expect(errorOf(() => loadWorkflowFolder(bad)).message).toMatch(new RegExp(`^${join(bad, 'upscale.json')}: is not valid JSON \\(`));
		const lacking = await folder({ 'upscale.json': JSON.stringify(upscale('photo.png')) });
		expect(errorOf(() => loadWorkflowFolder(lacking)).message).toBe(
			`${join(lacking, 'upscale.json')}: lacks the placeholder {{image}} (the name of the uploaded input image (a LoadImage image))`
		);
	});

	it('a bad folder stops the generator from being created, with the option and the file named', async () => {
		const dir = await folder({ 'image-to-image.json': '[]' });
		expect(() => ImageGenerator.create({ provider: 'comfyui', comfyui: { workflowsDir: dir } })).toThrowError(
			`Invalid generation options:\n- comfyui.workflowsDir: ${join(dir, 'image-to-image.json')}: expected a JSON object of nodes (ComfyUI API format)`
		);
	});
});
