import { container, type Command } from '@sapphire/framework';
import { ApplicationCommandOptionType, SlashCommandBuilder, type RESTPostAPIChatInputApplicationCommandsJSONBody } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandLimits } from '../../src/lib/discord/limits.js';
import { startTestBot, type TestBot } from './helpers/botHarness.js';

let bot: TestBot;
const data = new Map<string, RESTPostAPIChatInputApplicationCommandsJSONBody>();

beforeAll(async () => {
	bot = await startTestBot();
	for (const command of container.stores.get('commands').values()) {
		// What the command hands Sapphire's registry, built as the registry builds it.
		const registry = {
			registerChatInputCommand(input: ((builder: SlashCommandBuilder) => unknown) | SlashCommandBuilder) {
				const builder = typeof input === 'function' ? new SlashCommandBuilder() : input;
				if (typeof input === 'function') input(builder);
				data.set(command.name, builder.toJSON());
				return registry;
			}
		};
		(command as Command).registerApplicationCommands?.(registry as never);
	}
});
afterAll(() => bot.close());

type Option = NonNullable<RESTPostAPIChatInputApplicationCommandsJSONBody['options']>[number] & {
	options?: Option[];
	choices?: { name: string; value: string | number }[];
	autocomplete?: boolean;
	required?: boolean;
};

const NAME = /^[-_\p{Ll}\p{Lo}\p{N}]{1,32}$/u;

/** Every rule Discord applies to a command's JSON; returns the problems found. */
function problemsOf(json: RESTPostAPIChatInputApplicationCommandsJSONBody): string[] {
	const problems: string[] = [];
	let characters = 0;
	const checkNamed = (where: string, name: string, description: string) => {
		characters += name.length + description.length;
		if (!NAME.test(name) || name !== name.toLowerCase()) problems.push(`${where}: name ${JSON.stringify(name)}`);
		if (description.length < 1 || description.length > CommandLimits.description)
			problems.push(`${where}: description of ${description.length}`);
	};
	const checkOptions = (where: string, options: Option[] | undefined) => {
		if (!options) return;
		if (options.length > CommandLimits.options) problems.push(`${where}: ${options.length} options`);
		if (new Set(options.map((option) => option.name)).size !== options.length) problems.push(`${where}: duplicate option names`);
		let optionalSeen = false;
		for (const option of options) {
			const at = `${where} ${option.name}`;
			checkNamed(at, option.name, option.description);
			const nested =
				option.type === ApplicationCommandOptionType.Subcommand || option.type === ApplicationCommandOptionType.SubcommandGroup;
			if (!nested) {
				if (option.required && optionalSeen) problems.push(`${at}: required after optional`);
				if (!option.required) optionalSeen = true;
			}
			if (option.choices && option.autocomplete) problems.push(`${at}: choices and autocomplete`);
			if ((option.choices?.length ?? 0) > CommandLimits.choices) problems.push(`${at}: ${option.choices?.length} choices`);
			for (const choice of option.choices ?? []) {
				characters += choice.name.length + String(choice.value).length;
				if (choice.name.length < 1 || choice.name.length > CommandLimits.choiceName) problems.push(`${at}: choice name ${choice.name}`);
				if (typeof choice.value === 'string' && choice.value.length > CommandLimits.choiceValue)
					problems.push(`${at}: choice value ${choice.value}`);
			}
			checkOptions(at, option.options);
		}
	};
	checkNamed(`/${json.name}`, json.name, json.description ?? '');
	checkOptions(`/${json.name}`, json.options as Option[] | undefined);
	if (characters > 4000) problems.push(`/${json.name}: ${characters} characters in all (Discord allows 4000)`);
	return problems;
}

describe('slash command JSON', () => {
	it('has the commands users and owners expect', () => {
		expect([...data.keys()].sort()).toEqual([
			'images',
			'imagine',
			'imagine-settings',
			'quota',
			'quota-admin',
			'reimagine',
			'storage',
			'upscale'
		]);
	});

	it("every command passes Discord's limits (names, descriptions, options, choices, order)", () => {
		for (const json of data.values()) expect(problemsOf(json), json.name).toEqual([]);
		expect(data.size).toBeLessThanOrEqual(100);
	});

	it('the checker does catch a command Discord would refuse', () => {
		const bad = {
			name: 'Bad Name',
			description: 'x'.repeat(101),
			options: [
				{ type: 3, name: 'optional', description: 'o' },
				{
					type: 3,
					name: 'required',
					description: 'r',
					required: true,
					choices: Array.from({ length: 26 }, (_, index) => ({ name: `c${index}`, value: `${index}` }))
				}
			]
		} as RESTPostAPIChatInputApplicationCommandsJSONBody;
		expect(problemsOf(bad)).toEqual(
			expect.arrayContaining([
				expect.stringContaining('name "Bad Name"'),
				expect.stringContaining('description of 101'),
				expect.stringContaining('required after optional'),
				expect.stringContaining('26 choices')
			])
		);
	});

	it('admin commands are hidden from members by default permissions; member commands are not', () => {
		for (const name of ['storage', 'quota-admin']) expect(data.get(name)?.default_member_permissions).toBe('0');
		for (const name of ['imagine', 'reimagine', 'upscale', 'quota', 'images'])
			expect(data.get(name)?.default_member_permissions ?? null).toBeNull();
		// A server's own settings: Manage Server (1 << 5), in servers only.
		expect(data.get('imagine-settings')).toMatchObject({ default_member_permissions: '32', contexts: [0] });
	});

	it('generation commands read no quota before they defer (the reservation checks it); admin commands are OwnerOnly', () => {
		const preconditionsOf = (name: string) => {
			const command = container.stores.get('commands').get(name)!;
			return (command.preconditions.entries as { name?: string }[]).map((entry) => entry.name).filter(Boolean);
		};
		for (const name of ['imagine', 'reimagine', 'upscale']) {
			for (const quota of ['DailyLimit', 'UserStorage', 'GlobalStorage']) expect(preconditionsOf(name)).not.toContain(quota);
		}
		for (const name of ['storage', 'quota-admin']) expect(preconditionsOf(name)).toContain('OwnerOnly');
		for (const name of ['quota', 'images']) expect(preconditionsOf(name)).not.toContain('OwnerOnly');
	});

	it('/imagine: prompt [style] [aspect] [negative] [seed], style with autocomplete', () => {
		const options = data.get('imagine')!.options as Option[];
		expect(options.map((option) => [option.name, option.required ?? false])).toEqual([
			['prompt', true],
			['style', false],
			['aspect', false],
			['negative', false],
			['seed', false]
		]);
		expect(options[1]!.autocomplete).toBe(true);
		expect(options[2]!.choices).toHaveLength(9);
	});

	it('/reimagine image prompt [strength] [style]; /upscale image; /images list|show|delete; /quota-admin reset|set', () => {
		expect((data.get('reimagine')!.options as Option[]).map((option) => option.name)).toEqual(['image', 'prompt', 'strength', 'style']);
		expect((data.get('upscale')!.options as Option[]).map((option) => option.name)).toEqual(['image']);
		expect(data.get('quota')!.options ?? []).toEqual([]);
		expect((data.get('images')!.options as Option[]).map((option) => option.name)).toEqual(['list', 'show', 'delete']);
		expect((data.get('storage')!.options as Option[]).map((option) => option.name)).toEqual(['report', 'cleanup']);
		expect((data.get('quota-admin')!.options as Option[]).map((option) => option.name)).toEqual(['reset', 'set']);
	});

	it('every piece file is loaded (nothing in the piece folders is left out of these tests)', () => {
		expect(bot.pieces.map((piece) => `${piece.store}/${piece.name}`)).toEqual(
			expect.arrayContaining([
				'commands/imagine',
				'preconditions/OwnerOnly',
				'interaction-handlers/resultButtons',
				'interaction-handlers/galleryButtons',
				'listeners/chatInputCommandDenied',
				'listeners/chatInputCommandError',
				'listeners/ready'
			])
		);
	});
});
