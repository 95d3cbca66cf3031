// Three small Sapphire bots written as a stranger would write them from the README, one per module system
// (CommonJS JavaScript, TypeScript compiled to CommonJS, ES modules), each with a command, a listener and a
// precondition of its own. Each starts up to login; when Discord (the loopback stand-in) refuses the token it prints
// one `REPORT {json}` line saying what the plugins gave it, destroys the client and exits.
// The TypeScript sources are also type-checked as an ES module bot and under `moduleResolution: bundler`.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export interface ConsumerVersions {
	framework: string;
	discordJs: string;
}

/** A bot that is started; the TypeScript-only variants are type-checked and not run. */
export interface ConsumerBot {
	name: 'cjs' | 'ts-cjs' | 'esm';
	/** Its entry, relative to its folder. */
	entry: string;
}

export const RUNNABLE_BOTS: readonly ConsumerBot[] = [
	{ name: 'cjs', entry: 'src/index.js' },
	{ name: 'ts-cjs', entry: 'dist/index.js' },
	{ name: 'esm', entry: 'src/index.js' }
];

/** Folders with a tsconfig.json; `ts-cjs` is compiled, the others only type-checked. */
export const TYPESCRIPT_BOTS = ['ts-cjs', 'ts-esm', 'ts-bundler'] as const;

/** Writes the shared install's package.json and every bot under `dir`. */
export async function writeConsumerBots(dir: string, tarball: string, versions: ConsumerVersions): Promise<void> {
	const files: Record<string, string> = {
		'package.json': json({
			name: 'consumer-bots',
			private: true,
			dependencies: {
				'@sapphire/framework': versions.framework,
				'discord.js': versions.discordJs,
				'sapphire-imagine': `file:${tarball}`
			},
			// npm 11 asks each project to approve the install scripts it runs: sqlite3 builds its binding, sharp checks
			// its binary. sapphire-imagine's `prepare` (it builds a git checkout) runs only for a package installed from
			// a file or git, never from the registry, and does nothing without the sources: denied, under the key
			// `npm install-scripts deny` writes for a tarball.
			allowScripts: { sqlite3: true, sharp: true, [`file:${tarball}`]: false }
		}),
		// Only the npm registry is reachable: sqlite3 compiles its binding instead of downloading one, as in this
		// repository. (npm_config_build_from_source would do it too, but sharp reads it as well and would try to
		// compile libvips.)
		'.prebuild-installrc': json({ buildFromSource: true }),
		...javaScriptBot('cjs', 'commonjs'),
		...javaScriptBot('esm', 'module'),
		...typeScriptBot('ts-cjs', 'commonjs', { module: 'Node16', moduleResolution: 'Node16', outDir: 'dist', rootDir: 'src' }),
		...typeScriptBot('ts-esm', 'module', { module: 'NodeNext', moduleResolution: 'NodeNext', noEmit: true }),
		...typeScriptBot('ts-bundler', 'module', { module: 'ESNext', moduleResolution: 'Bundler', noEmit: true })
	};
	for (const [path, text] of Object.entries(files)) {
		await mkdir(dirname(join(dir, path)), { recursive: true });
		await writeFile(join(dir, path), text);
	}
}

function json(value: unknown): string {
	return `${JSON.stringify(value, null, '\t')}\n`;
}

function javaScriptBot(name: 'cjs' | 'esm', type: 'commonjs' | 'module'): Record<string, string> {
	const esm = type === 'module';
	const load = (specifier: string, names?: string) =>
		esm
			? names
				? `import { ${names} } from '${specifier}';`
				: `import '${specifier}';`
			: names
				? `const { ${names} } = require('${specifier}');`
				: `require('${specifier}');`;
	const exported = (declaration: string) =>
		esm ? `export ${declaration}` : `${declaration}\nmodule.exports = { ${declaration.split(/\s+/)[1]} };`;
	return {
		[`${name}/package.json`]: json({ name: `${name}-bot`, private: true, type, main: 'src/index.js' }),
		[`${name}/src/index.js`]: [
			load('sapphire-imagine/storage/register'),
			load('sapphire-imagine/generation/register'),
			load('node:fs', 'existsSync'),
			load('@sapphire/framework', 'container, SapphireClient'),
			load('discord.js', 'GatewayIntentBits'),
			'',
			clientSource(),
			''
		].join('\n'),
		[`${name}/src/commands/paint.js`]: [
			load('@sapphire/framework', 'Command'),
			'',
			exported(`class PaintCommand extends Command {
	constructor(context, options) {
		super(context, { ...options, name: 'paint', description: 'Paint something', preconditions: ['CanPaint', 'DailyLimit', 'UserStorage', 'GlobalStorage'] });
	}
	async chatInputRun(interaction) {
		await interaction.deferReply();
		const result = await this.container.imageJobs.run({ kind: 'text-to-image', userId: interaction.user.id, request: { prompt: interaction.options.getString('prompt', true) } });
		await interaction.editReply(result.ok ? 'Painted' : result.reason);
	}
}`),
			''
		].join('\n'),
		[`${name}/src/listeners/paintDenied.js`]: [
			load('@sapphire/framework', 'Events, Listener'),
			'',
			exported(`class PaintDeniedListener extends Listener {
	constructor(context, options) {
		super(context, { ...options, event: Events.ChatInputCommandDenied });
	}
	async run(error, { interaction }) {
		await interaction.reply(error.message);
	}
}`),
			''
		].join('\n'),
		[`${name}/src/preconditions/CanPaint.js`]: [
			load('@sapphire/framework', 'Precondition'),
			'',
			exported(`class CanPaintPrecondition extends Precondition {
	async chatInputRun(interaction) {
		const status = await this.container.storage.getQuotaStatus(interaction.user.id);
		return status.daily.remaining > 0 ? this.ok() : this.error({ message: 'No paint left today' });
	}
}`),
			''
		].join('\n')
	};
}

function typeScriptBot(name: (typeof TYPESCRIPT_BOTS)[number], type: 'commonjs' | 'module', compilerOptions: Record<string, unknown>) {
	return {
		[`${name}/package.json`]: json({ name: `${name}-bot`, private: true, type, main: 'dist/index.js' }),
		[`${name}/tsconfig.json`]: json({
			compilerOptions: { target: 'ES2022', lib: ['ES2022'], strict: true, types: ['node'], skipLibCheck: true, ...compilerOptions },
			include: ['src']
		}),
		[`${name}/src/index.ts`]: `import 'sapphire-imagine/storage/register';
import 'sapphire-imagine/generation/register';
import { existsSync } from 'node:fs';
import { container, SapphireClient } from '@sapphire/framework';
import { GatewayIntentBits } from 'discord.js';
import type { QuotaStatus } from 'sapphire-imagine/storage';
import type { GeneratorDescription } from 'sapphire-imagine/generation';

${clientSource({ typed: true })}
`,
		[`${name}/src/commands/paint.ts`]: `import { Command } from '@sapphire/framework';

export class PaintCommand extends Command {
	public constructor(context: Command.LoaderContext, options: Command.Options) {
		// Unknown precondition names do not compile: these four come from the augmentations.
		super(context, { ...options, name: 'paint', description: 'Paint something', preconditions: ['CanPaint', 'DailyLimit', 'UserStorage', 'GlobalStorage'] });
	}

	public override async chatInputRun(interaction: Command.ChatInputCommandInteraction) {
		await interaction.deferReply();
		const result = await this.container.imageJobs.run({ kind: 'text-to-image', userId: interaction.user.id, request: { prompt: interaction.options.getString('prompt', true) } });
		await interaction.editReply(result.ok ? 'Painted' : result.reason);
	}
}
`,
		[`${name}/src/listeners/paintDenied.ts`]: `import { Events, Listener, type ChatInputCommandDeniedPayload, type UserError } from '@sapphire/framework';

export class PaintDeniedListener extends Listener<typeof Events.ChatInputCommandDenied> {
	public constructor(context: Listener.LoaderContext, options: Listener.Options) {
		super(context, { ...options, event: Events.ChatInputCommandDenied });
	}

	public override async run(error: UserError, { interaction }: ChatInputCommandDeniedPayload) {
		await interaction.reply(error.message);
	}
}
`,
		[`${name}/src/preconditions/CanPaint.ts`]: `import { Precondition } from '@sapphire/framework';
import type { ChatInputCommandInteraction } from 'discord.js';

export class CanPaintPrecondition extends Precondition {
	public override async chatInputRun(interaction: ChatInputCommandInteraction) {
		const status = await this.container.storage.getQuotaStatus(interaction.user.id);
		return status.daily.remaining > 0 ? this.ok() : this.error({ message: 'No paint left today' });
	}
}

declare module '@sapphire/framework' {
	interface Preconditions {
		CanPaint: never;
	}
}
`
	};
}

/**
 * The client, its login and the report, the same in every bot. DISCORD_API_URL points discord.js's REST at the stand-in,
 * which refuses the token. discord.js then destroys the client, after the plugins' hooks ran and every store
 * loaded: the bot looks around just before that (its own destroy wrapper runs first), and once more after.
 */
function clientSource({ typed = false } = {}): string {
	const t = (annotation: string) => (typed ? annotation : '');
	return `const client = new SapphireClient({
	intents: [GatewayIntentBits.Guilds],
	rest: { api: process.env.DISCORD_API_URL${t('!')} },
	storage: { storageRoot: 'data', maxUserDailyGens: 3 }
});

async function lookAround() {
	const status${t(': QuotaStatus')} = await container.storage.getQuotaStatus('123456789012345678');
	const generator${t(': GeneratorDescription')} = container.generator.describe();
	const names = (store${t(": 'commands' | 'listeners' | 'preconditions'")}) => [...container.stores.get(store).keys()];
	// The whole guarded job through this module system's build: quota (sqlite3, keyv), preview image (sharp), storage.
	const job = await container.imageJobs.run({ kind: 'text-to-image', userId: '123456789012345678', request: { prompt: 'a lighthouse' } });
	return {
		job: job.ok ? 'stored' : job.reason,
		dailyLimit: status.daily.limit,
		dailyRemaining: status.daily.remaining,
		storageRoot: container.storage.options.storageRoot,
		generator: generator.provider,
		imageJobs: typeof container.imageJobs.run,
		commands: names('commands'),
		listeners: names('listeners'),
		preconditions: names('preconditions'),
		walBeforeDestroy: existsSync('data/quota.sqlite-wal')
	};
}

let beforeDestroy${t(': Awaited<ReturnType<typeof lookAround>> | undefined')};
const destroy = client.destroy.bind(client);
client.destroy = async () => {
	beforeDestroy ??= await lookAround();
	return destroy();
};

client.login(process.env.DISCORD_TOKEN).catch((error${t(': { code?: string }')}) => {
	const walAfterDestroy = existsSync('data/quota.sqlite-wal') || existsSync('data/quota.sqlite-shm');
	console.log('REPORT ' + JSON.stringify({ loginError: error.code, ...beforeDestroy, walAfterDestroy }));
});`;
}
