import { createHash, type Hash } from 'node:crypto';
import { isAscii, isUtf8, transcode } from 'node:buffer';
import zlib from 'node:zlib';
import { Decompress as ZstdStream, decompress as zstdDecompress } from 'fzstd';
import type { Body, BodyDraft, StoredBody } from './schema.js';
import { RawBytes } from './encode.js';

/**
 * How much of one body a record keeps, on the wire and once decoded: past it the record keeps the
 * first bytes, the full size on the wire and a SHA-256 of every byte, and says it is truncated.
 * Large enough for any prompt an agent sends (the largest seen are a few MB), small enough that a
 * few hundred bodies at once fit in memory and that no record comes near V8's string limit.
 */
export const DEFAULT_BODY_LIMIT = 32 * 1024 * 1024;

/** fatal: a body that is not valid UTF-8 is kept as base64 instead of being silently "repaired". */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A body that did not fit: how many bytes it had and their hash (the first ones are kept). */
export interface Overflow {
  size: number;
  sha256: string;
}

/**
 * A body as it passes through, kept up to a limit: the bytes are relayed elsewhere untouched; this
 * holds the first `limit` of them, counts the rest and, only once they outgrow it, hashes them all
 * (hashing every body would cost ~10 µs per 20 KB prompt for nothing).
 */
export class BodyBuffer {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private total = 0;
  private hash: Hash | null = null;
  private ended: Overflow | undefined;

  constructor(readonly limit: number = DEFAULT_BODY_LIMIT) {}

  get size(): number {
    return this.total;
  }

  push(chunk: Buffer): void {
    this.total += chunk.length;
    if (this.ended) return;
    if (this.hash) {
      this.hash.update(chunk);
      return;
    }
    if (this.kept + chunk.length <= this.limit) {
      this.chunks.push(chunk);
      this.kept += chunk.length;
      return;
    }
    this.hash = createHash('sha256');
    for (const c of this.chunks) this.hash.update(c);
    this.hash.update(chunk);
    const room = this.limit - this.kept;
    // A copy, so that the rest of a large chunk is not kept alive by the part that is.
    if (room > 0) this.chunks.push(Buffer.from(chunk.subarray(0, room)));
    this.kept = this.limit;
  }

  /** The bytes kept (all of them unless overflow() says otherwise). */
  bytes(): Buffer {
    return this.chunks.length === 0 ? EMPTY : this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
  }

  /** Set when the body outgrew the limit; call after the last push (it ends the hash). */
  overflow(): Overflow | undefined {
    if (!this.hash) return undefined;
    this.ended ??= { size: this.total, sha256: this.hash.digest('hex') };
    return this.ended;
  }
}

const EMPTY = Buffer.alloc(0);

/** What decoding a body's content codings gave: its bytes (maybe only the first ones), or why it failed. */
export type Decoding = { bytes: Buffer; truncated: boolean } | { error: string };

function codingsOf(contentEncoding: string | undefined): string[] {
  if (!contentEncoding) return [];
  return contentEncoding
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity')
    .reverse();
}

const SUPPORTED = new Set(['gzip', 'x-gzip', 'deflate', 'br', 'zstd']);

/** zstd's declared window and content size, from the first frame header (RFC 8878 3.1.1.1). */
function zstdFrame(data: Buffer): { window: number; content: number | null } | null {
  if (data.length < 6 || data.readUInt32LE(0) !== 0xfd2fb528) return null;
  const fhd = data[4]!;
  const fcsFlag = fhd >> 6;
  const single = (fhd & 0x20) !== 0;
  const dictBytes = [0, 1, 2, 4][fhd & 3]!;
  let at = 5;
  let window = 0;
  if (!single) {
    const wd = data[at++]!;
    const base = 2 ** (10 + (wd >> 3));
    window = base + (base / 8) * (wd & 7);
  }
  at += dictBytes;
  const fcsBytes = [single ? 1 : 0, 2, 4, 8][fcsFlag]!;
  let content: number | null = null;
  if (fcsBytes > 0 && data.length >= at + fcsBytes) {
    if (fcsBytes === 1) content = data[at]!;
    else if (fcsBytes === 2) content = data.readUInt16LE(at) + 256;
    else if (fcsBytes === 4) content = data.readUInt32LE(at);
    else content = Number(data.readBigUInt64LE(at));
  }
  return { window: single ? (content ?? 0) : window, content };
}

class TooLarge extends Error {}

/** One coding removed, synchronously, producing at most `limit` bytes (TooLarge past it). */
function decodeOne(data: Buffer, coding: string, limit: number): Buffer {
  const opts = { maxOutputLength: Math.max(1, limit) };
  try {
    switch (coding) {
      case 'gzip':
      case 'x-gzip':
        return zlib.gunzipSync(data, opts);
      case 'deflate':
        // Servers disagree on whether "deflate" carries a zlib header; accept both.
        try {
          return zlib.inflateSync(data, opts);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw err;
          return zlib.inflateRawSync(data, opts);
        }
      case 'br':
        return zlib.brotliDecompressSync(data, opts);
      case 'zstd': {
        // fzstd allocates the declared content size (or window) up front: check it first.
        const frame = zstdFrame(data);
        if (frame && frame.content !== null && frame.content <= limit && frame.window <= limit) {
          const out = Buffer.from(zstdDecompress(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)));
          if (out.length > limit) throw new TooLarge();
          return out;
        }
        throw new TooLarge();
      }
      default:
        throw new Error(`unsupported content-encoding "${coding}"`);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new TooLarge();
    throw err;
  }
}

/**
 * The body with its content codings removed, synchronously, when it decodes whole within `limit`
 * bytes; `cut`: the wire bytes are only the first ones of the body. Null when only a bounded
 * streaming decode can say more (decodeBodySlow): the body decodes past the limit, or its wire
 * bytes were cut.
 */
export function decodeBody(wire: Buffer, contentEncoding: string | undefined, limit: number, cut = false): Decoding | null {
  const codings = codingsOf(contentEncoding);
  if (codings.length === 0) return { bytes: wire, truncated: cut };
  const unsupported = codings.find((c) => !SUPPORTED.has(c));
  if (unsupported) return { error: `content-encoding ${contentEncoding}: unsupported content-encoding "${unsupported}"` };
  if (cut) return null;
  let out = wire;
  try {
    for (const coding of codings) out = decodeOne(out, coding, limit);
  } catch (err) {
    if (err instanceof TooLarge) return null;
    return { error: `content-encoding ${contentEncoding}: ${(err as Error).message}` };
  }
  return { bytes: out, truncated: false };
}

/** The first `limit` bytes a zlib stream makes of `input`; `cut` when it had more. */
function streamPrefix(make: () => zlib.Gunzip | zlib.Inflate | zlib.InflateRaw | zlib.BrotliDecompress, input: Buffer, limit: number): Promise<{ bytes: Buffer; cut: boolean; error?: Error }> {
  return new Promise((resolve) => {
    const z = make();
    const out: Buffer[] = [];
    let n = 0;
    let settled = false;
    const done = (cut: boolean, error?: Error) => {
      if (settled) return;
      settled = true;
      z.destroy();
      resolve({ bytes: Buffer.concat(out), cut, ...(error ? { error } : {}) });
    };
    z.on('data', (c: Buffer) => {
      if (settled) return;
      const room = limit - n;
      if (c.length > room) {
        out.push(c.subarray(0, room));
        n = limit;
        done(true);
        return;
      }
      out.push(c);
      n += c.length;
    });
    z.on('end', () => done(false));
    z.on('error', (err) => done(false, err));
    z.end(input);
  });
}

/** zstd, streaming, in slices so that decoding stops soon after the limit. */
function zstdPrefix(input: Buffer, limit: number): { bytes: Buffer; cut: boolean; error?: Error } {
  const frame = zstdFrame(input);
  // The decoder keeps a window of the declared size, and moves it for every block.
  if (frame && frame.window > limit) return { bytes: EMPTY, cut: false, error: new Error(`a zstd window of ${frame.window} bytes, larger than the capture limit`) };
  const out: Buffer[] = [];
  let n = 0;
  let cut = false;
  const stream = new ZstdStream((chunk: Uint8Array) => {
    if (cut) return;
    const room = limit - n;
    const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (b.length > room) {
      out.push(Buffer.from(b.subarray(0, room)));
      n = limit;
      cut = true;
    } else {
      out.push(Buffer.from(b));
      n += b.length;
    }
  });
  try {
    for (let at = 0; at < input.length && !cut; at += 64 * 1024) {
      const slice = input.subarray(at, at + 64 * 1024);
      stream.push(new Uint8Array(slice.buffer, slice.byteOffset, slice.byteLength), false);
    }
  } catch (err) {
    return { bytes: Buffer.concat(out), cut, error: err as Error };
  }
  return { bytes: Buffer.concat(out), cut };
}

/**
 * The first `limit` bytes of the body with its content codings removed, streaming: for a body
 * decodeBody could not decode whole (a decompression bomb, or wire bytes cut at the limit). At
 * most `limit` bytes are held per coding, however much the body would expand to. `cut`: the wire
 * bytes are only the first ones, so the stream ending early is expected, not an error.
 */
export async function decodeBodySlow(wire: Buffer, contentEncoding: string | undefined, limit: number, cut: boolean): Promise<Decoding> {
  let data = wire;
  let truncated = cut;
  for (const coding of codingsOf(contentEncoding)) {
    let r: { bytes: Buffer; cut: boolean; error?: Error };
    switch (coding) {
      case 'gzip':
      case 'x-gzip':
        r = await streamPrefix(() => zlib.createGunzip(), data, limit);
        break;
      case 'deflate':
        r = await streamPrefix(() => zlib.createInflate(), data, limit);
        if (r.error && r.bytes.length === 0) r = await streamPrefix(() => zlib.createInflateRaw(), data, limit);
        break;
      case 'br':
        r = await streamPrefix(() => zlib.createBrotliDecompress(), data, limit);
        break;
      case 'zstd':
        r = zstdPrefix(data, limit);
        break;
      default:
        return { error: `content-encoding ${contentEncoding}: unsupported content-encoding "${coding}"` };
    }
    // An input cut short ends the stream with an error after the bytes it could decode.
    if (r.error && !(truncated && r.bytes.length > 0)) return { error: `content-encoding ${contentEncoding}: ${r.error.message}` };
    truncated ||= r.cut || r.error !== undefined;
    data = r.bytes;
  }
  return { bytes: data, truncated };
}

/** Removes every content coding, last applied first. Throws when one cannot be removed. */
export function decodeContent(data: Buffer, contentEncoding: string | undefined, limit = DEFAULT_BODY_LIMIT): Buffer {
  const d = decodeBody(data, contentEncoding, limit);
  if (d === null) throw new Error(`content-encoding ${contentEncoding}: decodes to more than ${limit} bytes`);
  if ('error' in d) throw new Error(d.error);
  return d.bytes;
}

/**
 * The bytes as text when they are valid UTF-8, else null. ASCII takes the decoder's one-byte fast
 * path; other text is validated (simdutf) and converted through ICU's UTF-16 transcoder, which is
 * about 3× faster than TextDecoder on a 20 KB prompt with a few non-ASCII characters and, for
 * valid input, yields the same code units (a BOM is kept, like ignoreBOM).
 */
export function toText(data: Buffer): string | null {
  if (data.length < 256 || isAscii(data)) {
    try {
      return utf8.decode(data);
    } catch {
      return null;
    }
  }
  if (!isUtf8(data)) return null;
  return transcode(data, 'utf8', 'utf16le').toString('utf16le');
}

/**
 * The first bytes of a longer body, without the end of a character the cut went through: a
 * truncated UTF-8 body stays text. Unchanged when no shorter prefix (by at most 3 bytes) is UTF-8.
 */
export function utf8Prefix(data: Buffer): Buffer {
  if (isUtf8(data)) return data;
  for (let drop = 1; drop <= 3 && drop <= data.length; drop++) {
    const b = data.subarray(0, data.length - drop);
    if (isUtf8(b)) return b;
  }
  return data;
}

export interface BodyInput {
  /** The bytes as they arrived: all of them, or the first ones when `overflow` is set. */
  wire: Buffer;
  overflow?: Overflow | undefined;
  contentEncoding?: string | undefined;
  /** The sender went away before the body was complete. */
  incomplete?: boolean;
  /** What decoding `wire` gave, when the caller already knows (decodeBody, decodeBodySlow). */
  decoding?: Decoding | undefined;
  limit?: number;
}

/**
 * A body as stored: its bytes after content decoding; decoding failures keep the wire bytes. A
 * body longer than the limit, on the wire or once decoded, keeps its first bytes, with `truncated`,
 * the size on the wire and the SHA-256 of its wire bytes. Nothing is read into the bytes here.
 */
export function captureBody(input: BodyInput): BodyDraft {
  const { wire, overflow } = input;
  const limit = input.limit ?? DEFAULT_BODY_LIMIT;
  const contentEncoding = input.contentEncoding;
  const base: Omit<BodyDraft, 'base64' | 'size'> = { wireSize: overflow?.size ?? wire.length };
  if (input.incomplete) base.incomplete = true;
  const d = input.decoding ?? decodeBody(wire, contentEncoding, limit, overflow !== undefined) ?? { error: `content-encoding ${contentEncoding}: decodes to more than ${limit} bytes` };
  const mark = (truncated: boolean) => {
    if (!truncated) return;
    base.truncated = true;
    base.sha256 = overflow?.sha256 ?? createHash('sha256').update(wire).digest('hex');
  };
  if ('error' in d) {
    mark(overflow !== undefined);
    return { ...base, base64: new RawBytes(wire), size: wire.length, decodeError: d.error };
  }
  if (contentEncoding && contentEncoding.toLowerCase() !== 'identity') base.contentEncoding = contentEncoding;
  mark(d.truncated);
  return { ...base, base64: new RawBytes(d.bytes), size: d.bytes.length };
}

/** A stored body's bytes. */
export function storedBytes(body: StoredBody | BodyDraft): Buffer {
  return body.base64 instanceof RawBytes ? body.base64.bytes : Buffer.from(body.base64, 'base64');
}

/**
 * A stored body as readers see it: the bytes as text when they are UTF-8 (a truncated body's text
 * without the end of the character the cut went through), else base64, as are the wire bytes of a
 * body that failed to decode.
 */
export function bodyView(body: StoredBody | BodyDraft, bytes: Buffer = storedBytes(body)): Body {
  const { base64: _bytes, ...facts } = body;
  const held = body.truncated ? utf8Prefix(bytes) : bytes;
  // Bytes that failed to decode are the wire's, not the body's text, even when they read as UTF-8.
  const text = body.decodeError === undefined ? toText(held) : null;
  return text === null ? { ...facts, encoding: 'base64', text: bytes.toString('base64'), size: bytes.length } : { ...facts, encoding: 'utf8', text, size: held.length };
}

/** The stored body's bytes (after content decoding). */
export function bodyBytes(body: Body): Buffer {
  return body.encoding === 'utf8' ? Buffer.from(body.text, 'utf8') : Buffer.from(body.text, 'base64');
}
