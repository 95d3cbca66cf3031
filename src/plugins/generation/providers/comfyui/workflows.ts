import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_WORKFLOWS } from './defaultWorkflows.js';

/**
 * ComfyUI workflows in its API format (what "Export (API)" saves): an object keyed by node id, each node
 * `{ class_type, inputs }`, an input wired to another node's output written `[nodeId, outputIndex]`.
 *
 * Our values go into a workflow through placeholders in its inputs: `"{{seed}}"`. A string that is exactly
 * one placeholder becomes the value itself (a number for seed, width, height, strength, steps and cfg); a
 * placeholder inside a longer string is replaced by its text (`"{{prompt}}, masterpiece"`). Each kind of job
 * needs some placeholders, or the request could not be honoured (a text-to-image workflow without `{{seed}}`
 * would make the same image for every seed); the others are optional (a workflow without
 * `{{negative_prompt}}` just does not use one, and the result says so).
 */
export const WORKFLOW_KINDS = ['text-to-image', 'image-to-image', 'upscale'] as const;
export type WorkflowKind = (typeof WORKFLOW_KINDS)[number];

export interface WorkflowNode {
	class_type: string;
	inputs: Record<string, unknown>;
	_meta?: { title?: string };
}

/** A workflow in API format: node id -> node. */
export type ComfyWorkflow = Record<string, WorkflowNode>;

export type ComfyWorkflows = Record<WorkflowKind, ComfyWorkflow>;

/** Every placeholder, with what it is filled with. */
export const PLACEHOLDERS = {
	prompt: 'the prompt, with the style preset folded in as words',
	negative_prompt: 'the negative prompt ("" when none is given)',
	seed: 'the seed (a random one when none is asked; the result reports it)',
	width: 'the width in pixels (a multiple of 8)',
	height: 'the height in pixels (a multiple of 8)',
	strength: 'how far to move from the input image, 0 to 1 (a KSampler denoise)',
	steps: 'the sampler steps',
	cfg: 'the guidance scale (KSampler cfg)',
	checkpoint: 'the checkpoint file (COMFYUI_CHECKPOINT)',
	image: 'the name of the uploaded input image (a LoadImage image)'
} as const;
export type Placeholder = keyof typeof PLACEHOLDERS;

/** What each kind of workflow must contain, and may contain. */
const REQUIRED: Record<WorkflowKind, readonly Placeholder[]> = {
	'text-to-image': ['prompt', 'seed', 'width', 'height'],
	'image-to-image': ['prompt', 'seed', 'image', 'strength'],
	upscale: ['image']
};
const ALLOWED: Record<WorkflowKind, readonly Placeholder[]> = {
	'text-to-image': ['prompt', 'negative_prompt', 'seed', 'width', 'height', 'steps', 'cfg', 'checkpoint'],
	'image-to-image': ['prompt', 'negative_prompt', 'seed', 'image', 'strength', 'steps', 'cfg', 'checkpoint'],
	upscale: ['image', 'checkpoint']
};

/** A workflow file's largest size: a real one is a few kilobytes. */
const MAX_WORKFLOW_BYTES = 2 * 1024 * 1024;
const PLACEHOLDER_PATTERN = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;
const WHOLE_PLACEHOLDER = /^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$/;

/** A workflow (file) that cannot be used; the message names the file and what is wrong. */
export class WorkflowError extends Error {
	public override readonly name = 'WorkflowError';
}

/** The placeholders a workflow's inputs use (titles and class names are never filled). */
export function placeholdersOf(workflow: ComfyWorkflow): Set<string> {
	const found = new Set<string>();
	for (const node of Object.values(workflow)) {
		visitStrings(node.inputs, (text) => {
			for (const match of text.matchAll(PLACEHOLDER_PATTERN)) found.add(match[1] as string);
		});
	}
	return found;
}

/**
 * What is wrong with `value` as a `kind` workflow, one line per problem; empty when it can be used. Checks the
 * API format (and recognises the UI format, which ComfyUI's /prompt does not take), the links between nodes
 * and the placeholders.
 */
export function workflowProblems(value: unknown, kind: WorkflowKind): string[] {
	if (!isPlainObject(value)) return ['expected a JSON object of nodes (ComfyUI API format)'];
	if (Array.isArray(value.nodes) && 'links' in value) {
		return ['is in ComfyUI\'s UI format; save it with "Export (API)" (Workflow menu) and use that file'];
	}
	const entries = Object.entries(value);
	if (entries.length === 0) return ['has no nodes'];
	const problems: string[] = [];
	for (const [id, node] of entries) {
		if (!isPlainObject(node) || typeof node.class_type !== 'string' || node.class_type === '' || !isPlainObject(node.inputs)) {
			problems.push(`node "${id}" is not { class_type, inputs } (ComfyUI API format)`);
			continue;
		}
		for (const [input, wired] of Object.entries(node.inputs)) {
			if (!Array.isArray(wired)) continue;
			const [from, index] = wired as unknown[];
			if (wired.length !== 2 || !Number.isInteger(index) || (index as number) < 0) {
				problems.push(`node "${id}" input "${input}": a link is [nodeId, outputIndex]`);
			} else if (!Object.hasOwn(value, String(from))) {
				problems.push(`node "${id}" input "${input}" is wired to node "${String(from)}", which is not in the workflow`);
			}
		}
	}
	if (problems.length > 0) return problems;
	const used = placeholdersOf(value as ComfyWorkflow);
	const allowed = ALLOWED[kind];
	for (const name of used) {
		if (!(allowed as readonly string[]).includes(name)) {
			problems.push(`uses {{${name}}}, which ${kind} workflows do not fill; they may use ${allowed.map((p) => `{{${p}}}`).join(', ')}`);
		}
	}
	for (const name of REQUIRED[kind]) {
		if (!used.has(name)) problems.push(`lacks the placeholder {{${name}}} (${PLACEHOLDERS[name]})`);
	}
	return problems;
}

/**
 * The owner's workflows in `dir`: `text-to-image.json`, `image-to-image.json` and `upscale.json`, each
 * replacing the shipped default of its kind when present (a folder with none of them is a mistake). Reads
 * and checks every file; throws a {@link WorkflowError} naming the folder or the file and each problem.
 */
export function loadWorkflowFolder(dir: string): Partial<ComfyWorkflows> {
	const folder = resolve(dir);
	let isFolder: boolean;
	try {
		isFolder = statSync(folder).isDirectory();
	} catch (error) {
		throw new WorkflowError(`the folder ${folder} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
	}
	if (!isFolder) throw new WorkflowError(`${folder} is not a folder`);
	const found: Partial<ComfyWorkflows> = {};
	for (const kind of WORKFLOW_KINDS) {
		const file = join(folder, `${kind}.json`);
		const workflow = readWorkflowFile(file, kind);
		if (workflow) found[kind] = workflow;
	}
	if (Object.keys(found).length === 0) {
		throw new WorkflowError(`${folder} holds none of ${WORKFLOW_KINDS.map((kind) => `${kind}.json`).join(', ')}`);
	}
	return found;
}

/** The shipped defaults, with the owner's own where given. */
export function workflowSet(custom: Partial<ComfyWorkflows> = {}): ComfyWorkflows {
	return { ...DEFAULT_WORKFLOWS, ...custom };
}

/** A filled copy of `workflow`: every placeholder replaced by its value (numbers stay numbers). */
export function fillWorkflow(workflow: ComfyWorkflow, values: Partial<Record<Placeholder, string | number>>): ComfyWorkflow {
	const fill = (text: string): unknown => {
		const whole = WHOLE_PLACEHOLDER.exec(text);
		if (whole) return valueOf(whole[1] as string);
		return text.replace(PLACEHOLDER_PATTERN, (_match, name: string) => String(valueOf(name)));
	};
	const valueOf = (name: string): string | number => {
		const value = values[name as Placeholder];
		// The checks at start-up make this unreachable; a missing value must never reach ComfyUI as "{{x}}".
		if (value === undefined) throw new WorkflowError(`no value for the placeholder {{${name}}}`);
		return value;
	};
	return Object.fromEntries(
		Object.entries(workflow).map(([id, node]) => [id, { ...node, inputs: mapStrings(node.inputs, fill) as Record<string, unknown> }])
	);
}

function readWorkflowFile(file: string, kind: WorkflowKind): ComfyWorkflow | null {
	let text: string;
	try {
		if (statSync(file).size > MAX_WORKFLOW_BYTES) throw new WorkflowError(`${file}: is larger than 2 MB; a workflow is a few kilobytes`);
		text = readFileSync(file, 'utf8');
	} catch (error) {
		if (error instanceof WorkflowError) throw error;
		if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
		throw new WorkflowError(`${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
	}
	let parsed: unknown;
	try {
		parsed = JSON.parse(text);
	} catch (error) {
		throw new WorkflowError(`${file}: is not valid JSON (${(error as Error).message})`);
	}
	const problems = workflowProblems(parsed, kind);
	if (problems.length > 0) throw new WorkflowError(`${file}: ${problems.join('; ')}`);
	return parsed as ComfyWorkflow;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function visitStrings(value: unknown, visit: (text: string) => void): void {
	if (typeof value === 'string') visit(value);
	else if (Array.isArray(value)) for (const item of value) visitStrings(item, visit);
	else if (isPlainObject(value)) for (const item of Object.values(value)) visitStrings(item, visit);
}

function mapStrings(value: unknown, map: (text: string) => unknown): unknown {
	if (typeof value === 'string') return map(value);
	if (Array.isArray(value)) return value.map((item) => mapStrings(item, map));
	if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, mapStrings(item, map)]));
	return value;
}
