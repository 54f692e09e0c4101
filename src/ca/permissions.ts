import { chmod, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../errors.js';

/**
 * The CA directory holds a key every client of the proxy trusts: whoever can replace `ca.pem` or
 * read `ca.private.key` can intercept those clients. So, whatever the umask:
 *
 * - directories are 0700 and private keys 0600; looser read bits (an old directory, a copy, an
 *   unpack) are tightened on load, because the key is ours and only reading was possible;
 * - a directory or file that another user owns, or that group or others can write, is refused:
 *   its contents may already have been swapped, and tightening now would not undo that.
 */
export class CaDirError extends UserError {
  override name = 'CaDirError';
}

const POSIX = process.platform !== 'win32';

/** Creates a private directory (and missing parents) 0700, whatever the umask. */
export async function mkdirPrivate(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (POSIX) await chmod(dir, 0o700);
}

function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}

async function check(file: string, kind: 'dir' | 'key' | 'public', certsDir: string): Promise<void> {
  let info;
  try {
    info = await stat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const uid = process.getuid?.();
  if (uid !== undefined && info.uid !== uid) {
    throw new CaDirError(
      `${file}: owned by another user (uid ${info.uid}): refusing to use a CA directory someone else controls; give your own with --certs DIR or PROMPTDIFF_CERTS_DIR`,
    );
  }
  if (info.mode & 0o022) {
    throw new CaDirError(
      `${file}: writable by other users (mode ${octal(info.mode)}), so the CA may have been replaced: check it, then  chmod -R go-w ${certsDir}  (or delete ${certsDir} and run  promptdiff ca init  again, then trust the new CA)`,
    );
  }
  const tight = kind === 'dir' ? 0o700 : kind === 'key' ? 0o600 : null;
  if (tight !== null && info.mode & 0o077) await chmod(file, tight);
}

/** Checks and tightens a CA directory laid out as caPaths() says (missing parts are skipped). */
export async function secureCaDir(paths: { certsDir: string; certPath: string; keyPath: string; publicKeyPath: string; leafKeyPath: string }): Promise<void> {
  if (!POSIX) return;
  const { certsDir } = paths;
  for (const dir of [certsDir, path.dirname(paths.certPath), path.dirname(paths.keyPath)]) await check(dir, 'dir', certsDir);
  for (const key of [paths.keyPath, paths.leafKeyPath]) await check(key, 'key', certsDir);
  for (const pub of [paths.certPath, paths.publicKeyPath]) await check(pub, 'public', certsDir);
}
