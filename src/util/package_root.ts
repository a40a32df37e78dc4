// The root of the tknp package (the folder with package.json and models/), found from a module's
// own location: the same from src/ (tests run the TypeScript) and from dist/src/ (the CLI).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The nearest folder above `moduleUrl` holding package.json and `marker`; undefined if none. */
export function packageRoot(moduleUrl: string, marker = 'models'): string | undefined {
  let dir = dirname(fileURLToPath(moduleUrl));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, marker))) return dir;
    dir = dirname(dir);
  }
  return undefined;
}
