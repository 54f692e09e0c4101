import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * One temporary root for the whole suite, removed at the end: whatever a test, the code under
 * test or a CLI it spawns puts in os.tmpdir() (run directories, test CAs with their private keys,
 * agent caches) lands under it, so nothing is left in /tmp even when a test forgets to clean up.
 * test/setup/file-tmp.ts gives each test file its own directory below it and removes it after the file.
 */
export default function setup(): () => void {
  const root = mkdtempSync(path.join(os.tmpdir(), 'promptdiff-test-'));
  process.env.PROMPTDIFF_TEST_TMP = root;
  return () => rmSync(root, { recursive: true, force: true });
}
