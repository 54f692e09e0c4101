// The package.json that goes into the tarball, without `prepare`.
//
// A checkout needs `prepare`: `npm ci` builds dist/ with it. The packed package must not have it:
// it ships dist/ already built (prepack builds it), its users have no TypeScript, and npm lists an
// install script of a global install as not allowed. So prepack strips it from package.json just
// before npm reads the manifest into the tarball, and postpack puts the file back byte for byte
// (the pattern of pinst). A pack that died between the two leaves the backup: the next run restores it.
//
//   node scripts/pack-manifest.mjs strip     (prepack, after the build)
//   node scripts/pack-manifest.mjs restore   (postpack)
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const manifest = path.join(root, 'package.json');
const backup = path.join(root, '.package.json.prepack');

function restore() {
  if (existsSync(backup)) renameSync(backup, manifest);
}

const mode = process.argv[2];
if (mode === 'strip') {
  restore();
  const text = readFileSync(manifest, 'utf8');
  const pkg = JSON.parse(text);
  delete pkg.scripts.prepare;
  writeFileSync(backup, text);
  writeFileSync(manifest, `${JSON.stringify(pkg, null, 2)}\n`);
} else if (mode === 'restore') {
  restore();
} else {
  process.stderr.write('usage: node scripts/pack-manifest.mjs strip|restore\n');
  process.exit(2);
}
