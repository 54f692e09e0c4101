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
 * One JSONL line as bytes. Buffer.from(string) is slow on two-byte strings (any prompt with a
 * curly quote or a CJK character is one): ~0.5 ms for a 40 KB record, against ~0.03 ms for
 * writing into a buffer sized for the worst case. Records over 1 MB are measured exactly instead,
 * so a 20 MB body does not reserve 60 MB.
 */
export function encodeLine(json: string): Buffer {
  const size = json.length > 1 << 20 ? Buffer.byteLength(json, 'utf8') : json.length * 3;
  const buf = Buffer.allocUnsafe(size + 1);
  const n = buf.write(json, 0, 'utf8');
  buf[n] = 0x0a;
  return buf.subarray(0, n + 1);
}

interface Slab {
  buf: Buffer;
  used: number;
  /** Lines carved from it that are not written yet. */
  pending: number;
}

const SLAB_SIZE = 1 << 20;

/**
 * Encodes lines into reused 1 MB slabs. A fresh worst-case buffer per line (~3 bytes per UTF-16
 * unit, 128 KB for a 20 KB prompt's record) is a fresh mapping from the allocator each time, and
 * the kernel's page faults on writing into it cost as much as the encoding. A slab whose lines have
 * all been written is reused from its start, so in steady state the same warm pages take every line.
 */
class LineEncoder {
  private current: Slab | null = null;
  private spare: Slab | null = null;

  encode(json: string): { line: Buffer; slab: Slab | null } {
    const worst = json.length * 3 + 1;
    if (worst > SLAB_SIZE >> 2) return { line: encodeLine(json), slab: null };
    let slab = this.current;
    if (slab && slab.pending === 0) slab.used = 0;
    if (!slab || slab.used + worst > SLAB_SIZE) {
      // The old slab goes when its last line is written (release), and may come back as the spare.
      slab = this.spare ?? { buf: Buffer.allocUnsafeSlow(SLAB_SIZE), used: 0, pending: 0 };
      this.spare = null;
      slab.used = 0;
      this.current = slab;
    }
    const start = slab.used;
    const n = slab.buf.write(json, start, 'utf8');
    slab.buf[start + n] = 0x0a;
    slab.used = start + n + 1;
    slab.pending += 1;
    return { line: slab.buf.subarray(start, start + n + 1), slab };
  }

  release(slab: Slab | null): void {
    if (!slab) return;
    slab.pending -= 1;
    if (slab.pending === 0 && slab !== this.current) this.spare ??= slab;
  }
}

interface QueuedLine {
  line: Buffer;
  slab: Slab | null;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * Append-only JSONL writer. Each completed exchange is one whole line, written in the order the
 * exchanges completed; lines that queue up while a write is in flight go out together in one
 * writev. A proxy killed at any moment leaves every earlier line intact (at most the last one torn).
 */
export class CaptureWriter {
  private queue: QueuedLine[] = [];
  private writing: Promise<void> | null = null;
  private failed: Error | null = null;
  private count = 0;
  private readonly encoder = new LineEncoder();

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
    const { line, slab } = this.encoder.encode(JSON.stringify(record));
    this.count += 1;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ line, slab, resolve, reject });
      this.writing ??= this.drain();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      // Bounded batches keep one writev within the platform's iovec limit.
      const batch = this.queue.splice(0, 256);
      if (!this.failed) {
        try {
          await this.handle.writev(batch.map((q) => q.line));
        } catch (err) {
          this.failed = err as Error;
        }
      }
      // After a failed write every later line fails with the same error, as a broken file would.
      for (const q of batch) {
        this.encoder.release(q.slab);
        if (this.failed) q.reject(this.failed);
        else q.resolve();
      }
    }
    this.writing = null;
  }

  async close(): Promise<void> {
    while (this.writing) await this.writing;
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
