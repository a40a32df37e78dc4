// The playground page at `/`: plain HTML, CSS and JavaScript files under
// src/server/playground/ (no build step, no CDN), read once at start-up and served as they are.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Asset {
  readonly body: Buffer;
  readonly contentType: string;
}

const FILES: readonly (readonly [string, string, string])[] = [
  ['/', 'index.html', 'text/html; charset=utf-8'],
  ['/playground.css', 'playground.css', 'text/css; charset=utf-8'],
  ['/playground.js', 'playground.js', 'text/javascript; charset=utf-8'],
];

/** src/server/playground of the package (also when running from dist/). */
function playgroundDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const d = join(dir, 'src', 'server', 'playground');
    if (existsSync(join(dir, 'package.json')) && existsSync(d)) return d;
    dir = dirname(dir);
  }
  throw new Error(`src/server/playground not found above ${fileURLToPath(import.meta.url)}`);
}

/** URL path → asset. */
export function loadPlayground(): ReadonlyMap<string, Asset> {
  const dir = playgroundDir();
  return new Map(FILES.map(([path, file, contentType]) => [path, { body: readFileSync(join(dir, file)), contentType }]));
}
