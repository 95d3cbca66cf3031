// The CommonJS build (dist/cjs, from tsconfig.cjs.json) keeps the `.js` names tsc gives it. This package.json
// beside it tells Node and TypeScript that those files, and their `.d.ts` declarations, are CommonJS, whatever
// the root package.json's "type" says.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

writeFileSync(fileURLToPath(import.meta.resolve('../dist/cjs/package.json')), `${JSON.stringify({ type: 'commonjs' }, null, '\t')}\n`);
