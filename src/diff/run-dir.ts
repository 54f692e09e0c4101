import { readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { isWithin } from '../safe-path.js';
import type { ExchangeRecord } from '../capture/schema.js';
import { storedRecord } from '../capture/store.js';
import { viewOf } from '../capture/view.js';
import { MANIFEST_FORMAT, type Manifest } from '../scenario/manifest.js';
import { InputError } from '../errors.js';

/** A problem with the run directory the user gave us: exit code 2, message says what to fix. */
export { InputError };

export async function loadManifest(runDir: string): Promise<Manifest> {
  const file = MANIFEST_FORMAT.pathIn(runDir);
  const manifest = await MANIFEST_FORMAT.read(file);
  if (manifest === null) throw new InputError(`${file}: cannot read (no such file); is ${runDir} a promptdiff run directory?`);
  return manifest;
}

/** RUN_DIR/runs/<id>/exchanges.jsonl; the id was checked to be one plain path segment when the manifest was read. */
export function exchangesFile(runDir: string, runId: string): string {
  return join(runDir, 'runs', runId, 'exchanges.jsonl');
}

/**
 * Where a file of the run directory really is, or null when it does not exist. A symbolic link
 * (or a linked runs/ directory) leading out of the run directory is refused: the directory may come
 * from someone else, and what it points at is not part of it.
 */
export async function insideRunDir(runDir: string, file: string): Promise<string | null> {
  let real: string;
  try {
    real = await realpath(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new InputError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const root = await realpath(runDir);
  if (!isWithin(root, real)) throw new InputError(`${file}: leads outside the run directory ${runDir} (to ${real}); refusing to read it`);
  return real;
}

export interface ReadResult {
  records: ExchangeRecord[];
  /** Lines skipped, e.g. a torn last line left by a killed proxy. */
  warnings: string[];
  /** The file does not exist. */
  missing: boolean;
}

/**
 * Our own minimal reader (the capture store belongs to capture/): one JSON record per line.
 * Only the last line may be broken, because that is what a proxy killed mid-write leaves behind;
 * a broken line anywhere else means the file was damaged, and guessing would hide that.
 */
export async function readExchanges(file: string): Promise<ReadResult> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], warnings: [], missing: true };
    throw new InputError(`${file}: cannot read (${(err as Error).message})`);
  }
  // Decode line by line from the buffer: one big string plus split() would hold every capture twice.
  const bounds: Array<[number, number]> = [];
  for (let start = 0; start < buf.length; ) {
    let end = buf.indexOf(0x0a, start);
    if (end < 0) end = buf.length;
    bounds.push([start, end]);
    start = end + 1;
  }
  let last = bounds.length - 1;
  const blank = (i: number): boolean => buf.toString('utf8', bounds[i]![0], bounds[i]![1]).trim() === '';
  while (last >= 0 && blank(last)) last--;
  const records: ExchangeRecord[] = [];
  const warnings: string[] = [];
  for (let i = 0; i <= last; i++) {
    const line = buf.toString('utf8', bounds[i]![0], bounds[i]![1]);
    if (line.trim() === '') continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (err) {
      if (i === last) {
        warnings.push(`${file}:${i + 1}: torn last line skipped (${line.length} chars)`);
        continue;
      }
      throw new InputError(`${file}:${i + 1}: not valid JSON (${(err as Error).message})`);
    }
    records.push(viewOf(storedRecord(json, `${file}:${i + 1}`, (m) => new InputError(m))));
  }
  return { records, warnings, missing: false };
}
