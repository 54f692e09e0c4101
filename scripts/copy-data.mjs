// Copies the data files that live beside the sources (the factor catalogue) into dist/, which tsc
// does not: the built CLI reads them from next to its modules, as the sources do under vitest.
import { cpSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
for (const rel of ['scenario/factors/catalogue.yaml']) {
  const to = path.join(root, 'dist', rel);
  mkdirSync(path.dirname(to), { recursive: true });
  cpSync(path.join(root, 'src', rel), to);
}
