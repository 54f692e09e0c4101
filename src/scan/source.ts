import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { CaptureFileError, EXCHANGES_FILE, parseExchanges } from '../capture/store.js';
import type { ExchangeRecord } from '../capture/schema.js';

/** A path that holds no capture: one line, exit 2. */
export class ScanSourceError extends Error {
  override readonly name = 'InputError';
}

export interface Captures {
  /** What was given, resolved. */
  source: string;
  /** proxy: one exchanges.jsonl (a proxy --out directory, a run's own directory, or the file); run-dir: every run of a scenario run. */
  shape: 'capture' | 'run-dir';
  files: string[];
  records: ExchangeRecord[];
  /** Files whose last line was cut off (a killed proxy): their complete lines were read. */
  tornTails: string[];
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
    files = [...runs.map((r) => path.join(source, 'runs', r, EXCHANGES_FILE)), path.join(source, 'unattributed', EXCHANGES_FILE)].filter((f) => existsSync(f));
  } else {
    throw new ScanSourceError(`${target}: no ${EXCHANGES_FILE} here: give a proxy --out directory, a run directory (promptdiff run --out) or a .jsonl capture file`);
  }
  const records: ExchangeRecord[] = [];
  const tornTails: string[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch((err: Error) => {
      throw new CaptureFileError(`${file}: ${err.message}`);
    });
    const read = parseExchanges(text, file);
    records.push(...read.records);
    if (read.tornTail) tornTails.push(file);
  }
  return { source, shape, files, records, tornTails };
}
