import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: src/ and dist/ both sit directly below it. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

let cached: string | null = null;

/** promptdiff's version, as recorded in manifests, findings and HAR exports. */
export function toolVersion(): string {
  if (cached === null) {
    const pkg = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
    cached = pkg.version;
  }
  return cached;
}
