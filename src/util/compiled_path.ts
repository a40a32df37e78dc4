// The compiled JavaScript file next to a module, for entry points that node starts on its own
// (child processes, worker threads): beside the module when it runs compiled, and under dist/
// when it runs from TypeScript sources (a test runner), which needs `npx tsc -p tsconfig.json`.
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** `<name>.js` in the compiled directory of the module at `moduleUrl` (its import.meta.url). */
export function compiledSibling(moduleUrl: string, name: string): string {
  const here = fileURLToPath(moduleUrl);
  if (here.endsWith('.js')) return join(dirname(here), `${name}.js`);
  // src/<dir>/<file>.ts → dist/src/<dir>/<name>.js
  let root = dirname(here);
  while (!existsSync(join(root, 'package.json')) && dirname(root) !== root) root = dirname(root);
  const built = join(root, 'dist', relative(root, dirname(here)), `${name}.js`);
  if (!existsSync(built)) throw new Error(`${built} not found: build the project first (npx tsc -p tsconfig.json)`);
  return built;
}
