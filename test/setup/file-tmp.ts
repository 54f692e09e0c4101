import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll } from 'vitest';
import { killOwned } from '../helpers/cli.js';

// Each test file gets its own TMPDIR (os.tmpdir() reads it on every call), removed when the file
// is done: a file's run directories and test CAs do not outlive it, and the suite's disk use stays
// that of the files running at the moment.
const root = process.env.PROMPTDIFF_TEST_TMP;
if (root) {
  mkdirSync(root, { recursive: true });
  const dir = mkdtempSync(path.join(root, 'file-'));
  process.env.TMPDIR = dir;
  afterAll(() => {
    // A proxy a failed test never stopped would outlive the file (and hold its directory open).
    killOwned();
    rmSync(dir, { recursive: true, force: true });
  });
}
