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

/** Strings at least this long are escaped as bytes (escapeUtf8) rather than by JSON.stringify. */
const LONG_STRING = 1024;
/** Spliced characters per record at most (their escaped bytes need up to 6 bytes a character). */
const SPLICE_CHARS = 1 << 18;
/** Placeholders for the long strings while the rest of the record is stringified. */
const TOKEN = '\u0001promptdiff-splice-';

/** U+FFFD in UTF-8. */
const REPLACEMENT_UTF8 = Buffer.from([0xef, 0xbf, 0xbd]);

interface Splice {
  holder: Record<string, unknown> | unknown[];
  key: string | number;
  value: string;
}

function isPlainContainer(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as unknown;
  if (Array.isArray(v)) return proto === Array.prototype && typeof (v as { toJSON?: unknown }).toJSON !== 'function';
  return (proto === Object.prototype || proto === null) && typeof (v as { toJSON?: unknown }).toJSON !== 'function';
}

/** The long strings of plain objects and arrays, in JSON.stringify's order. */
function collectLong(v: unknown, out: Splice[], budget: { chars: number }): void {
  if (typeof v !== 'object' || v === null || !isPlainContainer(v)) return;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) visit(v, i, v[i], out, budget);
  } else {
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) visit(o, k, o[k], out, budget);
  }
}

function visit(holder: Splice['holder'], key: string | number, x: unknown, out: Splice[], budget: { chars: number }): void {
  if (typeof x === 'string') {
    if (x.length >= LONG_STRING && x.length <= budget.chars) {
      budget.chars -= x.length;
      out.push({ holder, key, value: x });
    }
  } else if (typeof x === 'object' && x !== null) {
    collectLong(x, out, budget);
  }
}

/** JSON.stringify's escape for a byte below 0x20. */
function controlEscape(c: number): string {
  switch (c) {
    case 0x08:
      return '\\b';
    case 0x09:
      return '\\t';
    case 0x0a:
      return '\\n';
    case 0x0c:
      return '\\f';
    case 0x0d:
      return '\\r';
    default:
      return `\\u00${c < 0x10 ? '0' : ''}${c.toString(16)}`;
  }
}

/**
 * JSON.stringify(s) as UTF-8, from s's UTF-8 bytes src[0, n) (s well-formed, so its UTF-8 is
 * exact): a quote, a backslash and the bytes below 0x20 are escaped as JSON.stringify escapes them,
 * every other byte (multi-byte sequences are all 0x80 and above) is copied. Four bytes are tested
 * at a time (src32 views src, 4-byte aligned); V8 escapes one UTF-16 unit at a time, about 1.3 ns each.
 * Writes at dst[at] and returns the end.
 */
export function escapeUtf8(src: Buffer, src32: Int32Array, n: number, dst: Buffer, at: number): number {
  dst[at++] = 0x22;
  let run = 0;
  const escapeByte = (j: number, c: number): void => {
    if (j > run) at += src.copy(dst, at, run, j);
    run = j + 1;
    if (c === 0x22 || c === 0x5c) {
      dst[at++] = 0x5c;
      dst[at++] = c;
    } else {
      at += dst.write(controlEscape(c), at, 'latin1');
    }
  };
  const words = n >> 2;
  for (let w = 0; w < words; w++) {
    const x = src32[w]!;
    const q = x ^ 0x22222222;
    const b = x ^ 0x5c5c5c5c;
    // Per byte: below 0x20, equal to 0x22, equal to 0x5c (exact as to whether any byte is).
    if ((((x - 0x20202020) & ~x) | ((q - 0x01010101) & ~q) | ((b - 0x01010101) & ~b)) & 0x80808080) {
      for (let j = w << 2, e = j + 4; j < e; j++) {
        const c = src[j]!;
        if (c < 0x20 || c === 0x22 || c === 0x5c) escapeByte(j, c);
      }
    }
  }
  for (let j = words << 2; j < n; j++) {
    const c = src[j]!;
    if (c < 0x20 || c === 0x22 || c === 0x5c) escapeByte(j, c);
  }
  if (n > run) at += src.copy(dst, at, run, n);
  dst[at++] = 0x22;
  return at;
}

/**
 * Encodes lines into reused 1 MB slabs. A fresh worst-case buffer per line (~3 bytes per UTF-16
 * unit, 128 KB for a 20 KB prompt's record) is a fresh mapping from the allocator each time, and
 * the kernel's page faults on writing into it cost as much as the encoding. A slab whose lines have
 * all been written is reused from its start, so in steady state the same warm pages take every line.
 *
 * A record's long strings (the body text, the prompt in the parsed view) are not escaped by
 * JSON.stringify: each is written as UTF-8 and escaped as bytes (escapeUtf8), the rest of the record
 * is stringified with placeholders in their place, and the pieces are spliced. The line is
 * byte-identical to JSON.stringify(record) as UTF-8; when a placeholder's text is not found exactly
 * once (a string that happens to contain it), the record is stringified whole instead.
 */
export class LineEncoder {
  private current: Slab | null = null;
  private spare: Slab | null = null;
  private raw = Buffer.allocUnsafeSlow(64 * 1024);
  private raw32 = new Int32Array(this.raw.buffer, 0, this.raw.length >> 2);
  private escaped = Buffer.allocUnsafeSlow(256 * 1024);

  encode(record: unknown): { line: Buffer; slab: Slab | null } {
    const splices: Splice[] = [];
    collectLong(record, splices, { chars: SPLICE_CHARS });
    if (splices.length === 0) return this.encodeJson(JSON.stringify(record));

    let json: string;
    let set = 0;
    try {
      for (; set < splices.length; set++) {
        const sp = splices[set]!;
        (sp.holder as Record<string | number, unknown>)[sp.key] = TOKEN + set;
      }
      json = JSON.stringify(record);
    } catch {
      json = '';
    } finally {
      for (let i = 0; i < set; i++) {
        const sp = splices[i]!;
        (sp.holder as Record<string | number, unknown>)[sp.key] = sp.value;
      }
    }
    if (set < splices.length) return this.encodeJson(JSON.stringify(record));

    // Where each placeholder is; it must occur exactly once.
    const cuts: { at: number; end: number; index: number }[] = [];
    for (let i = 0; i < splices.length; i++) {
      const tok = JSON.stringify(TOKEN + i);
      const at = json.indexOf(tok);
      if (at < 0 || json.indexOf(tok, at + 1) >= 0) return this.encodeJson(JSON.stringify(record));
      cuts.push({ at, end: at + tok.length, index: i });
    }
    cuts.sort((a, b) => a.at - b.at);

    // Each long string escaped into the scratch buffer, in order.
    let need = 0;
    for (const sp of splices) need += sp.value.length * 6 + 2;
    if (this.escaped.length < need) this.escaped = Buffer.allocUnsafeSlow(Math.max(need, this.escaped.length * 2));
    const pieces: Buffer[] = new Array<Buffer>(splices.length);
    let escEnd = 0;
    let total = 0;
    for (let i = 0; i < splices.length; i++) {
      const s = splices[i]!.value;
      if (this.raw.length < s.length * 3) {
        this.raw = Buffer.allocUnsafeSlow(Math.max(s.length * 3, this.raw.length * 2));
        this.raw32 = new Int32Array(this.raw.buffer, 0, this.raw.length >> 2);
      }
      const n = this.raw.write(s, 0, 'utf8');
      // A lone surrogate is written as U+FFFD's bytes but escaped by JSON.stringify (\udc00): only
      // a string whose UTF-8 shows U+FFFD can have one, and such a string is left to JSON.stringify.
      const end =
        this.raw.subarray(0, n).indexOf(REPLACEMENT_UTF8) >= 0 && !(s as unknown as { isWellFormed(): boolean }).isWellFormed()
          ? escEnd + this.escaped.write(JSON.stringify(s), escEnd, 'utf8')
          : escapeUtf8(this.raw, this.raw32, n, this.escaped, escEnd);
      pieces[i] = this.escaped.subarray(escEnd, end);
      total += end - escEnd;
      escEnd = end;
    }

    const worst = json.length * 3 + total + 1;
    let out: Buffer;
    let start: number;
    let slab: Slab | null = null;
    if (worst > SLAB_SIZE >> 2) {
      let exact = total + 1;
      let prev = 0;
      for (const c of cuts) {
        exact += Buffer.byteLength(json.slice(prev, c.at), 'utf8');
        prev = c.end;
      }
      exact += Buffer.byteLength(json.slice(prev), 'utf8');
      out = Buffer.allocUnsafe(exact);
      start = 0;
    } else {
      slab = this.take(worst);
      out = slab.buf;
      start = slab.used;
    }
    let at = start;
    let prev = 0;
    for (const c of cuts) {
      if (c.at > prev) at += out.write(json.slice(prev, c.at), at, 'utf8');
      at += pieces[c.index]!.copy(out, at);
      prev = c.end;
    }
    if (json.length > prev) at += out.write(json.slice(prev), at, 'utf8');
    out[at++] = 0x0a;
    if (slab) {
      slab.used = at;
      slab.pending += 1;
    }
    return { line: out.subarray(start, at), slab };
  }

  private encodeJson(json: string): { line: Buffer; slab: Slab | null } {
    const worst = json.length * 3 + 1;
    if (worst > SLAB_SIZE >> 2) return { line: encodeLine(json), slab: null };
    const slab = this.take(worst);
    const start = slab.used;
    const n = slab.buf.write(json, start, 'utf8');
    slab.buf[start + n] = 0x0a;
    slab.used = start + n + 1;
    slab.pending += 1;
    return { line: slab.buf.subarray(start, start + n + 1), slab };
  }

  /** A slab with `worst` bytes free at slab.used. */
  private take(worst: number): Slab {
    let slab = this.current;
    if (slab && slab.pending === 0) slab.used = 0;
    if (!slab || slab.used + worst > SLAB_SIZE) {
      // The old slab goes when its last line is written (release), and may come back as the spare.
      slab = this.spare ?? { buf: Buffer.allocUnsafeSlow(SLAB_SIZE), used: 0, pending: 0 };
      this.spare = null;
      slab.used = 0;
      this.current = slab;
    }
    return slab;
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
    const { line, slab } = this.encoder.encode(record);
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
