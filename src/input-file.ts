import { open } from 'node:fs/promises';

/**
 * Files promptdiff reads whole (scenarios, manifests, audit.json, findings.json, shard.json, …) may come
 * from someone else. Each kind has a size limit far above any real file, checked before a byte is
 * parsed: a 200 MB scenario would otherwise take gigabytes of memory to fail validation.
 */
export const INPUT_LIMITS = {
  scenario: 4 * 1024 * 1024,
  manifest: 256 * 1024 * 1024,
  audit: 64 * 1024 * 1024,
  findings: 256 * 1024 * 1024,
  shard: 16 * 1024 * 1024,
  explain: 64 * 1024 * 1024,
  bisect: 64 * 1024 * 1024,
  'install-marker': 16 * 1024 * 1024,
} as const;

export type InputKind = keyof typeof INPUT_LIMITS;

function mb(bytes: number): string {
  return `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MB`;
}

/**
 * Reads a text file of the given kind, or null when it does not exist. `fail` builds the user error
 * (each caller has its own class, all printed as one line with exit 2).
 */
export async function readInputText(file: string, kind: InputKind, fail: (message: string) => Error): Promise<string | null> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fail(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const limit = INPUT_LIMITS[kind];
  let size: number;
  try {
    size = (await handle.stat()).size;
    if (size <= limit) return await handle.readFile('utf8');
  } catch (err) {
    throw fail(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  } finally {
    await handle.close();
  }
  throw fail(`${file}: ${mb(size)} is larger than any ${kind} file should be (limit ${mb(limit)}); is it the right file?`);
}

/** JSON.parse with the file named in the one-line error. */
export function parseInputJson(text: string, file: string, fail: (message: string) => Error): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw fail(`${file}: not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
}

/** The first schema issue as `path: message`, the way a user finds the field in the file. */
export function firstIssue(error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> }): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  let where = '';
  for (const key of issue.path) where += typeof key === 'number' ? `[${key}]` : where === '' ? String(key) : `.${String(key)}`;
  return `${where || '(root)'}: ${issue.message}`;
}
