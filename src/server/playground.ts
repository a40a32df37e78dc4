// The playground page at `/`: plain HTML, CSS and JavaScript files under
// src/server/playground/ (no build step, no CDN), read once at start-up and served as they are.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../util/package_root.js';

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
  const root = packageRoot(import.meta.url, join('src', 'server', 'playground'));
  if (!root) throw new Error(`src/server/playground not found above ${import.meta.url}`);
  return join(root, 'src', 'server', 'playground');
}

/** URL path → asset. */
export function loadPlayground(): ReadonlyMap<string, Asset> {
  const dir = playgroundDir();
  return new Map(FILES.map(([path, file, contentType]) => [path, { body: readFileSync(join(dir, file)), contentType }]));
}
