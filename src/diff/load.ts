import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExchangeRecord } from '../capture/schema.js';
import { ManifestSchema, type Manifest } from '../scenario/manifest.js';

/** A problem with the run directory the user gave us: exit code 2, message says what to fix. */
export class InputError extends Error {
  override name = 'InputError';
}

export async function loadManifest(runDir: string): Promise<Manifest> {
  const file = join(runDir, 'manifest.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new InputError(`${file}: cannot read (${(err as Error).message}); is ${runDir} a promptdiff run directory?`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  const parsed = ManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InputError(`${file}: not a promptdiff manifest: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
  }
  return parsed.data;
}

export function exchangesFile(runDir: string, runId: string): string {
  return join(runDir, 'runs', runId, 'exchanges.jsonl');
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
    const parsed = ExchangeRecord.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new InputError(
        `${file}:${i + 1}: not a capture record: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
      );
    }
    records.push(parsed.data);
  }
  return { records, warnings, missing: false };
}
