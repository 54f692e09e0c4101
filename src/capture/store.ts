import { open, readFile, mkdir, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { ExchangeRecord, CAPTURE_VERSION } from './schema.js';

export const EXCHANGES_FILE = 'exchanges.jsonl';

/** A user-facing problem with a capture file: the message names the file and line. */
export class CaptureFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CaptureFileError';
  }
}

/**
 * Append-only JSONL writer. Each completed exchange is one write() of one whole line, queued so
 * lines never interleave; a proxy killed at any moment leaves every earlier line intact.
 */
export class CaptureWriter {
  private tail: Promise<void> = Promise.resolve();
  private failed: Error | null = null;
  private count = 0;

  private constructor(
    readonly file: string,
    private readonly handle: FileHandle,
  ) {}

  static async open(dir: string): Promise<CaptureWriter> {
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, EXCHANGES_FILE);
    return new CaptureWriter(file, await open(file, 'a', 0o600));
  }

  get written(): number {
    return this.count;
  }

  append(record: ExchangeRecord): Promise<void> {
    const line = `${JSON.stringify(record)}\n`;
    this.count += 1;
    this.tail = this.tail.then(async () => {
      if (this.failed) return;
      try {
        await this.handle.write(line);
      } catch (err) {
        this.failed = err as Error;
        throw err;
      }
    });
    return this.tail;
  }

  async close(): Promise<void> {
    await this.tail.catch(() => undefined);
    await this.handle.close();
  }
}

export interface ReadResult {
  records: ExchangeRecord[];
  /** Set when the last line was cut off (a killed writer); every complete line before it was read. */
  tornTail: boolean;
}

/** Older record versions are upgraded here, so every reader sees the current shape. */
function migrate(raw: unknown): unknown {
  return raw;
}

export function parseExchanges(text: string, file: string): ReadResult {
  const lines = text.split('\n');
  const records: ExchangeRecord[] = [];
  let tornTail = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const isLast = i === lines.length - 1; // no newline after it: the write may have been cut short
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      if (isLast) {
        tornTail = true;
        break;
      }
      throw new CaptureFileError(`${file}:${i + 1}: not a JSON line (the capture file is damaged)`);
    }
    const parsed = ExchangeRecord.safeParse(migrate(raw));
    if (!parsed.success) {
      const v = (raw as { v?: unknown })?.v;
      const issue = parsed.error.issues[0];
      const where = issue ? `${issue.path.join('.') || '(record)'}: ${issue.message}` : 'invalid record';
      const hint = v !== CAPTURE_VERSION ? ` (record version ${String(v)}, this promptdiff reads ${CAPTURE_VERSION})` : '';
      throw new CaptureFileError(`${file}:${i + 1}: ${where}${hint}`);
    }
    records.push(parsed.data);
  }
  return { records, tornTail };
}

/** Reads DIR/exchanges.jsonl (or a .jsonl path). */
export async function readExchanges(dirOrFile: string): Promise<ReadResult> {
  const file = dirOrFile.endsWith('.jsonl') ? dirOrFile : path.join(dirOrFile, EXCHANGES_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CaptureFileError(
      code === 'ENOENT' ? `${file}: no such capture file (is this a promptdiff capture directory?)` : `${file}: ${(err as Error).message}`,
    );
  }
  return parseExchanges(text, file);
}
