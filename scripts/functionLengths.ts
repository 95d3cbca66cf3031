/**
 * Lists the longest functions under a folder (default: src), measured in source lines from the first line of the
 * declaration to its closing brace, so code health can be compared before and after a change with one command:
 *
 *   npx tsx scripts/functionLengths.ts [folder] [--most N]
 *
 * It counts every function-like node (declarations, methods, accessors, constructors, arrow functions and function
 * expressions); a nested function is listed on its own and also counts inside the function that holds it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

interface FunctionLength {
	readonly file: string;
	readonly line: number;
	readonly name: string;
	readonly lines: number;
}

function sourceFiles(folder: string): string[] {
	return readdirSync(folder, { withFileTypes: true, recursive: true })
		.filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
		.map((entry) => join(entry.parentPath, entry.name))
		.sort();
}

/** A readable name for an anonymous function: the variable, property or call it is handed to. */
function nameOf(node: ts.FunctionLikeDeclaration, source: ts.SourceFile): string {
	if (node.name !== undefined) {
		const own = node.name.getText(source);
		const owner = ts.isClassLike(node.parent) && node.parent.name !== undefined ? `${node.parent.name.text}.` : '';
		return `${owner}${own}`;
	}
	if (ts.isConstructorDeclaration(node)) return `${ts.isClassLike(node.parent) ? (node.parent.name?.text ?? '') : ''}.constructor`;
	const parent = node.parent;
	if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) {
		return parent.name.getText(source);
	}
	if (ts.isCallExpression(parent) || ts.isNewExpression(parent)) {
		const callee = parent.expression.getText(source).slice(0, 40);
		return `(callback of ${ts.isNewExpression(parent) ? 'new ' : ''}${callee})`;
	}
	return '(anonymous)';
}

function measure(file: string, root: string): FunctionLength[] {
	const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
	const found: FunctionLength[] = [];
	const visit = (node: ts.Node): void => {
		if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
			const declaration = node as ts.FunctionLikeDeclaration;
			const start = source.getLineAndCharacterOfPosition(declaration.getStart(source)).line;
			const end = source.getLineAndCharacterOfPosition(declaration.getEnd()).line;
			found.push({ file: relative(root, file), line: start + 1, name: nameOf(declaration, source), lines: end - start + 1 });
		}
		ts.forEachChild(node, visit);
	};
	visit(source);
	return found;
}

function main(argv: readonly string[]): void {
	const mostIndex = argv.indexOf('--most');
	const most = mostIndex === -1 ? 10 : Number(argv[mostIndex + 1]);
	if (!Number.isInteger(most) || most < 1) throw new Error('--most takes a whole number from 1 upwards');
	const folder = argv.find((argument, index) => !argument.startsWith('--') && index !== mostIndex + 1) ?? 'src';
	const root = process.cwd();
	const lengths = sourceFiles(folder)
		.flatMap((file) => measure(file, root))
		.sort((a, b) => b.lines - a.lines || a.file.localeCompare(b.file) || a.line - b.line);
	for (const entry of lengths.slice(0, most)) {
		console.log(`${String(entry.lines).padStart(5)}  ${entry.file}:${entry.line}  ${entry.name}`);
	}
}

main(process.argv.slice(2));
