import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { EXCHANGES_FILE } from '../capture/store.js';
import type { ExchangeRecord } from '../capture/schema.js';
import { insideRunDir, readExchanges } from '../diff/run-dir.js';
import { InputError } from '../errors.js';

/** A path that holds no capture: one line, exit 2. */
export class ScanSourceError extends InputError {}

export interface Captures {
  /** What was given, resolved. */
  source: string;
  /** proxy: one exchanges.jsonl (a proxy --out directory, a run's own directory, or the file); run-dir: every run of a scenario run. */
  shape: 'capture' | 'run-dir';
  files: string[];
  records: ExchangeRecord[];
  /** Lines skipped: a torn last line (a killed proxy); every complete line before it was read. */
  warnings: string[];
}

/**
 * The captured exchanges at `target`: a .jsonl file, a directory holding exchanges.jsonl (a proxy
 * --out directory, runs/<id>/ of a run), or a scenario run directory (every runs/<id>/, and the
 * exchanges no run claimed).
 */
export async function readCaptures(target: string): Promise<Captures> {
  const source = path.resolve(target);
  const info = await stat(source).catch(() => null);
  if (!info) throw new ScanSourceError(`${target}: no such file or directory`);
  let files: string[];
  let shape: Captures['shape'] = 'capture';
  if (info.isFile()) files = [source];
  else if (existsSync(path.join(source, EXCHANGES_FILE))) files = [path.join(source, EXCHANGES_FILE)];
  else if (existsSync(path.join(source, 'runs'))) {
    shape = 'run-dir';
    const runs = (await readdir(path.join(source, 'runs'), { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
    const candidates = [...runs.map((r) => path.join(source, 'runs', r, EXCHANGES_FILE)), path.join(source, 'unattributed', EXCHANGES_FILE)];
    // As for diff: a link leading out of a run directory someone else made is refused, not followed.
    files = (await Promise.all(candidates.map((f) => insideRunDir(source, f)))).filter((f): f is string => f !== null);
  } else {
    throw new ScanSourceError(`${target}: no ${EXCHANGES_FILE} here: give a proxy --out directory, a run directory (promptdiff run --out) or a .jsonl capture file`);
  }
  const records: ExchangeRecord[] = [];
  const warnings: string[] = [];
  for (const file of files) {
    const read = await readExchanges(file);
    if (read.missing) throw new ScanSourceError(`${file}: no such file`);
    records.push(...read.records);
    warnings.push(...read.warnings);
  }
  return { source, shape, files, records, warnings };
}
