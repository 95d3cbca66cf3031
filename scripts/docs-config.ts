// `npm run docs:config`: rewrites .env.example and the README's configuration table from src/lib/config/variables.ts (scripts/docs-config.ts).
import { readFileSync, writeFileSync } from 'node:fs';
import { renderConfigTable, renderEnvExample } from '../src/lib/config/docs.js';

const root = new URL('../', import.meta.url);
writeFileSync(new URL('.env.example', root), renderEnvExample());

const readmeUrl = new URL('README.md', root);
const readme = readFileSync(readmeUrl, 'utf8');
const heading = '## Configuration';
const start = readme.indexOf(heading);
const tableStart = readme.indexOf('\n|', start) + 1;
let tableEnd = tableStart;
while (readme.startsWith('|', tableEnd)) tableEnd = readme.indexOf('\n', tableEnd) + 1;
writeFileSync(readmeUrl, `${readme.slice(0, tableStart)}${renderConfigTable()}\n${readme.slice(tableEnd)}`);
console.log('Wrote .env.example and the README configuration table; (the npm script aligns it with prettier).');
