import fs from 'node:fs';
import { readFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { StoredRecord, CAPTURE_VERSION, type ExchangeRecord, type RecordDraft } from './schema.js';
import { migrateV1, V1RecordError } from './schema-v1.js';
import { LineEncoder, type Slab } from './encode.js';
import { viewOf } from './view.js';
import { UserError } from '../errors.js';
import { upgrade, type Migration } from '../artifact.js';

export const EXCHANGES_FILE = 'exchanges.jsonl';

/** A user-facing problem with a capture file: the message names the file and line. */
export class CaptureFileError extends UserError {
  override name = 'CaptureFileError';
}

interface QueuedLine {
  line: Buffer;
  slab: Slab | null;
}

/** Lines written in one system call at most: within the platform's iovec limit. */
const MAX_LINES_PER_WRITE = 256;
/** Encoded bytes that make a batch write out before the rest of the batch is built. */
const BATCH_BYTES = 512 * 1024;

/**
 * Append-only JSONL writer. Each completed exchange is one whole line, written in the order the
 * exchanges completed. Records are encoded and written in batches, once per turn of the event
 * loop, with a synchronous writev on this thread: a write to the page cache takes microseconds,
 * while handing each one to libuv's thread pool (fs/promises) cost a thread wake-up and two
 * context switches per batch, which on a virtual machine cost more than the write (measured with
 * perf under the proxy benchmark). The price is that a stalled disk stalls the proxy, which then
 * stops reading from its clients instead of buffering captures without bound.
 * A proxy killed at any moment leaves every earlier line intact (at most the last one torn).
 */
export class CaptureWriter {
  private queue: QueuedLine[] = [];
  private queuedBytes = 0;
  /** Records, or functions that build them, in the order they were appended. */
  private pending: Array<RecordDraft | StoredRecord | (() => RecordDraft | StoredRecord)> = [];
  private scheduled: NodeJS.Immediate | null = null;
  private waiters: Array<() => void> = [];
  /** Called once the batch holding their records has been written. */
  private afters: Array<() => void> = [];
  private held = new Set<Promise<void>>();
  private failed: Error | null = null;
  private lost = 0;
  private count = 0;
  private closed = false;
  private readonly encoder = new LineEncoder();

  private constructor(
    readonly file: string,
    private readonly fd: number,
    private readonly onError: (err: Error, file: string) => void,
    private readonly redactLine?: (line: Buffer) => Buffer,
  ) {}

  /**
   * Opens DIR/exchanges.jsonl for appending (0600). `onError` hears of the first failed write or
   * record (the writer goes on with the next ones; lines after a failed write are counted as lost).
   * `redactLine` rewrites each encoded line, without its bodies, before it is written (SecretValues.line):
   * bodies are redacted as bytes by whoever builds the record (proxy/record.ts).
   */
  static async open(dir: string, onError: (err: Error, file: string) => void = () => undefined, redactLine?: (line: Buffer) => Buffer): Promise<CaptureWriter> {
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, EXCHANGES_FILE);
    return new CaptureWriter(file, fs.openSync(file, 'a', 0o600), onError, redactLine);
  }

  /** Records accepted so far (written, or queued for the next batch). */
  get written(): number {
    return this.count;
  }

  /** Lines that could not be written (after a write error). */
  get lostLines(): number {
    return this.lost;
  }

  /** Writes the record with the next batch, in the order of append and appendLater calls. */
  append(record: RecordDraft | StoredRecord): void {
    this.count += 1;
    this.pending.push(record);
    this.schedule();
  }

  /**
   * Builds the record when the next batch is written (after the bytes already queued for clients
   * have gone out), so the exchange it records is not held up by it. `after` runs once that batch
   * is written (or failed to be: the failure is reported to onError).
   */
  appendLater(build: () => RecordDraft | StoredRecord, after?: () => void): void {
    this.count += 1;
    this.pending.push(build);
    if (after) this.afters.push(after);
    this.schedule();
  }

  /**
   * Work that will append records when it settles (a WebSocket's last messages still being
   * decompressed): flush() waits for it.
   */
  hold(work: Promise<unknown>): void {
    const held = work.then(
      () => undefined,
      () => undefined,
    );
    this.held.add(held);
    void held.then(() => this.held.delete(held));
  }

  /** Resolves once everything appended so far (and everything held) has been written. */
  async flush(): Promise<void> {
    while (this.held.size > 0) await Promise.all([...this.held]);
    if (!this.scheduled && this.queue.length === 0 && this.pending.length === 0) return;
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  async close(): Promise<void> {
    await this.flush();
    if (this.closed) return;
    this.closed = true;
    // Each batch reaches the OS before the responses it holds are acknowledged (survives a killed
    // proxy); an fdatasync per batch would cost 2-6 ms p50 here (docs/reliability.md), so the disk
    // is asked once, when the capture is closed (survives a power cut after a clean stop).
    await new Promise<void>((resolve) => fs.fdatasync(this.fd, () => resolve()));
    await new Promise<void>((resolve) => fs.close(this.fd, () => resolve()));
  }

  private schedule(): void {
    this.scheduled ??= setImmediate(() => this.writeBatch());
  }

  private enqueue(record: RecordDraft | StoredRecord): void {
    const { line, slab } = this.encoder.encode(record, this.redactLine);
    this.queue.push({ line, slab });
    this.queuedBytes += line.length;
  }

  private writeBatch(): void {
    this.scheduled = null;
    const pending = this.pending;
    this.pending = [];
    for (const item of pending) {
      try {
        this.enqueue(typeof item === 'function' ? item() : item);
      } catch (err) {
        this.lost += 1;
        this.onError(err as Error, this.file);
      }
      if (this.queuedBytes >= BATCH_BYTES) this.writeQueued();
    }
    this.writeQueued();
    const afters = this.afters;
    this.afters = [];
    for (const a of afters) a();
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private writeQueued(): void {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_LINES_PER_WRITE);
      if (!this.failed) {
        try {
          writeAll(this.fd, batch.map((q) => q.line));
        } catch (err) {
          // After a failed write every later line is lost too, as on a broken file.
          this.failed = err as Error;
          this.onError(this.failed, this.file);
        }
      }
      if (this.failed) this.lost += batch.length;
      for (const q of batch) this.encoder.release(q.slab);
    }
    this.queuedBytes = 0;
  }
}

/** writev until every byte is written (a regular file may take part of a large write). */
function writeAll(fd: number, buffers: Buffer[]): void {
  let pending = buffers;
  for (;;) {
    let n = fs.writevSync(fd, pending);
    let i = 0;
    while (i < pending.length && n >= pending[i]!.length) n -= pending[i++]!.length;
    if (i === pending.length) return;
    pending = [pending[i]!.subarray(n), ...pending.slice(i + 1)];
  }
}

export interface ReadResult<R = ExchangeRecord> {
  records: R[];
  /** Set when the last line was cut off (a killed writer); every complete line before it was read. */
  tornTail: boolean;
}

/**
 * Older record versions are upgraded here, so every reader sees the current shape: CAPTURE_MIGRATIONS[n]
 * turns a version-n record into n + 1. test/fixtures/formats/v1/ holds version-1 captures that must
 * keep reading.
 */
export const CAPTURE_MIGRATIONS: Readonly<Record<number, Migration>> = { 1: migrateV1 };

function migrate(raw: unknown): unknown {
  return upgrade(raw, CAPTURE_VERSION, CAPTURE_MIGRATIONS);
}

/**
 * One line's JSON as the current StoredRecord (migrated and validated); else an error naming
 * `where` (file:line) and the field, made by `fail` (a CaptureFileError unless the caller has its own).
 */
export function storedRecord(raw: unknown, where: string, fail: (message: string) => Error = (m) => new CaptureFileError(m)): StoredRecord {
  const v = (raw as { v?: unknown } | null)?.v;
  const hint = v !== CAPTURE_VERSION ? ` (record version ${String(v)}, this promptdiff reads ${CAPTURE_VERSION})` : '';
  let migrated: unknown;
  try {
    migrated = migrate(raw);
  } catch (err) {
    if (err instanceof V1RecordError) throw fail(`${where}: not a capture record: ${err.message}${hint}`);
    throw err;
  }
  const parsed = StoredRecord.safeParse(migrated);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw fail(`${where}: not a capture record: ${issue ? `${issue.path.join('.') || '(record)'}: ${issue.message}` : 'invalid record'}${hint}`);
  }
  return parsed.data;
}

/** The records of a capture file's text as stored (migrated to the current version). */
export function parseStored(text: string, file: string): ReadResult<StoredRecord> {
  const lines = text.split('\n');
  const records: StoredRecord[] = [];
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
    records.push(storedRecord(raw, `${file}:${i + 1}`));
  }
  return { records, tornTail };
}

/** The records of a capture file's text, as readers see them (capture/view.ts). */
export function parseExchanges(text: string, file: string): ReadResult {
  const { records, tornTail } = parseStored(text, file);
  return { records: records.map(viewOf), tornTail };
}

/** Reads DIR/exchanges.jsonl (or a .jsonl path), as readers see the exchanges. */
export async function readExchanges(dirOrFile: string): Promise<ReadResult> {
  const { file, text } = await captureText(dirOrFile);
  return parseExchanges(text, file);
}

/** Reads DIR/exchanges.jsonl (or a .jsonl path) as stored. */
export async function readStored(dirOrFile: string): Promise<ReadResult<StoredRecord>> {
  const { file, text } = await captureText(dirOrFile);
  return parseStored(text, file);
}

async function captureText(dirOrFile: string): Promise<{ file: string; text: string }> {
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
  return { file, text };
}
