/**
 * Capture records as JSONL lines, fast. The line for a record is byte-identical to
 * JSON.stringify(record) as UTF-8 plus a newline; what differs is how the long strings get there.
 *
 * A record may hold two kinds of stand-in for text that the proxy never decoded to a JS string
 * (decoding UTF-8 to UTF-16 is the single largest cost of recording a prompt, ~1 ns a byte, and
 * JSON.stringify of a long string is as much again):
 * - Utf8Text: a body known to be valid UTF-8, kept as its bytes. Its JSON is escaped from the
 *   bytes directly (escapeUtf8).
 * - ByteStrings: a value JSON.parse read from the body decoded as latin1, so that every string in
 *   it holds one char per UTF-8 byte. JSON structure is ASCII and UTF-8 never uses ASCII bytes
 *   inside a multi-byte sequence, so the structure is the same as the exact parse's; the strings'
 *   bytes are the original UTF-8, and written back as latin1 they are again. See byteStringsSafe
 *   for when this holds.
 * Both have a toJSON that yields the exact value, so JSON.stringify of a record with stand-ins is
 * the line (that is how the tests check the encoder, and what a fallback uses).
 */

/** Text held as its UTF-8 bytes, which must be valid UTF-8 (isUtf8). */
export class Utf8Text {
  constructor(readonly bytes: Buffer) {}
  toJSON(): string {
    return this.bytes.toString('utf8');
  }
}

/** A value whose strings hold one char per UTF-8 byte (JSON.parse of latin1-decoded UTF-8). */
export class ByteStrings<T = unknown> {
  constructor(readonly value: T) {}
  toJSON(): unknown {
    return fromByteStrings(this.value);
  }
}

/** The exact value of a byte-strings value: every string (and key) decoded from its bytes as UTF-8. */
export function fromByteStrings(v: unknown): unknown {
  if (typeof v === 'string') return isAsciiString(v) ? v : Buffer.from(v, 'latin1').toString('utf8');
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.map(fromByteStrings);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    // defineProperty, not assignment: a "__proto__" key from JSON.parse is an own property.
    Object.defineProperty(out, fromByteStrings(k) as string, {
      value: fromByteStrings((v as Record<string, unknown>)[k]),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function isAsciiString(s: string): boolean {
  // eslint-disable-next-line no-control-regex
  return !/[^\x00-\x7f]/.test(s);
}

/**
 * Whether JSON.parse(latin) is a byte-strings reading of the UTF-8 JSON text whose bytes `latin`
 * holds one char each (valid UTF-8, decoded as latin1): true unless a \u escape names a character
 * of U+0080 or above, which would yield a UTF-16 unit among the bytes. A "\\u00e9" (an escaped
 * backslash, then text) is taken for an escape too: that only costs the exact path.
 */
export function byteStringsSafe(latin: string): boolean {
  let at = latin.indexOf('\\u');
  while (at >= 0) {
    const hex = latin.slice(at + 2, at + 6);
    if (!/^[0-9a-fA-F]{4}$/.test(hex) || parseInt(hex, 16) >= 0x80) return false;
    at = latin.indexOf('\\u', at + 2);
  }
  return true;
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

export interface Slab {
  buf: Buffer;
  used: number;
  /** Lines carved from it that are not written yet. */
  pending: number;
}

const SLAB_SIZE = 1 << 20;

/** Strings at least this long are escaped as bytes (escapeUtf8) rather than by JSON.stringify. */
const LONG_STRING = 1024;
/** Spliced characters (or bytes) per record at most: their escapes need up to 6 bytes each. */
const SPLICE_CHARS = 1 << 18;
/** Placeholders for the long strings while the rest of the record is stringified. */
const TOKEN = '\u0001promptdiff-splice-';

/** U+FFFD in UTF-8. */
const REPLACEMENT_UTF8 = Buffer.from([0xef, 0xbf, 0xbd]);

interface Splice {
  holder: Record<string, unknown> | unknown[];
  key: string | number;
  value: string | Utf8Text | ByteStrings;
}

interface Budget {
  chars: number;
}

function isPlainContainer(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as unknown;
  if (Array.isArray(v)) return proto === Array.prototype && typeof (v as { toJSON?: unknown }).toJSON !== 'function';
  return (proto === Object.prototype || proto === null) && typeof (v as { toJSON?: unknown }).toJSON !== 'function';
}

/** The long strings and stand-ins of plain objects and arrays, in JSON.stringify's order. */
function collectLong(v: unknown, out: Splice[], budget: Budget): void {
  if (typeof v !== 'object' || v === null || !isPlainContainer(v)) return;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) visit(v, i, v[i], out, budget);
  } else {
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) visit(o, k, o[k], out, budget);
  }
}

function visit(holder: Splice['holder'], key: string | number, x: unknown, out: Splice[], budget: Budget): void {
  if (typeof x === 'string') {
    if (x.length >= LONG_STRING && x.length <= budget.chars) {
      budget.chars -= x.length;
      out.push({ holder, key, value: x });
    }
  } else if (x instanceof Utf8Text) {
    // Over budget it is left to its toJSON, like a long string to JSON.stringify.
    if (x.bytes.length <= budget.chars) {
      budget.chars -= x.bytes.length;
      out.push({ holder, key, value: x });
    }
  } else if (x instanceof ByteStrings) {
    out.push({ holder, key, value: x });
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

/** Bytes that JSON escapes: below 0x20, the quote and the backslash. */
const NEEDS_ESCAPE = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) NEEDS_ESCAPE[c] = 1;
NEEDS_ESCAPE[0x22] = 1;
NEEDS_ESCAPE[0x5c] = 1;
/** Each control byte's escape, at 6 * byte, and its length. */
const CONTROL_ESCAPES = new Uint8Array(0x20 * 6);
const CONTROL_ESCAPE_LENGTH = new Uint8Array(0x20);
for (let c = 0; c < 0x20; c++) {
  const e = Buffer.from(controlEscape(c), 'latin1');
  CONTROL_ESCAPES.set(e, c * 6);
  CONTROL_ESCAPE_LENGTH[c] = e.length;
}

/** Writes JSON's escape for byte c (below 0x20, a quote or a backslash) at dst[at]; returns the end. */
function writeEscape(dst: Buffer, at: number, c: number): number {
  if (c >= 0x20) {
    dst[at] = 0x5c;
    dst[at + 1] = c;
    return at + 2;
  }
  const from = c * 6;
  const length = CONTROL_ESCAPE_LENGTH[c]!;
  for (let k = 0; k < length; k++) dst[at + k] = CONTROL_ESCAPES[from + k]!;
  return at + length;
}

/**
 * JSON.stringify(s) as UTF-8, from s's UTF-8 bytes src[0, n) (s well-formed, so its UTF-8 is
 * exact): a quote, a backslash and the bytes below 0x20 are escaped as JSON.stringify escapes them,
 * every other byte (multi-byte sequences are all 0x80 and above) is copied. src32 views src, 4-byte
 * aligned. Writes at dst[at] and returns the end.
 *
 * Two regimes, measured on 20 KB of text: with few escapes (a prompt's long prose in one JSON
 * string), four bytes are tested at once and clean stretches are copied natively, ~0.45 ns a byte
 * against V8's ~1.3; with many (a JSON body is full of quotes, a prompt of newlines) the per-escape
 * work in JavaScript costs more than V8's own escaper (~200 µs against ~25 for 20 KB of prose), so
 * past a few escapes per KB the bytes go through JSON.stringify as a latin1 string: one char per
 * byte, which it escapes exactly where this does, leaving 0x7f-0xff alone, so its output written as
 * latin1 is the same bytes.
 */
export function escapeUtf8(src: Buffer, src32: Int32Array, n: number, dst: Buffer, start: number): number {
  const words = n >> 2;
  const limit = (n >> 8) + 8;
  let flagged = 0;
  let at = start;
  let run = 0;
  dst[at++] = 0x22;
  for (let w = 0; w < words; w++) {
    const x = src32[w]!;
    const q = x ^ 0x22222222;
    const b = x ^ 0x5c5c5c5c;
    // Per byte: below 0x20, equal to 0x22, equal to 0x5c (exact as to whether any byte is).
    if (((((x - 0x20202020) & ~x) | ((q - 0x01010101) & ~q) | ((b - 0x01010101) & ~b)) & 0x80808080) === 0) continue;
    if (++flagged > limit) return start + dst.write(JSON.stringify(src.toString('latin1', 0, n)), start, 'latin1');
    for (let j = w << 2, e = j + 4; j < e; j++) {
      const c = src[j]!;
      if (NEEDS_ESCAPE[c] === 0) continue;
      // Native copies cost a call each: short runs are copied here.
      if (j - run >= 64) at += src.copy(dst, at, run, j);
      else for (let k = run; k < j; k++) dst[at++] = src[k]!;
      run = j + 1;
      at = writeEscape(dst, at, c);
    }
  }
  for (let j = words << 2; j < n; j++) {
    const c = src[j]!;
    if (NEEDS_ESCAPE[c] === 0) continue;
    if (j > run) at += src.copy(dst, at, run, j);
    run = j + 1;
    at = writeEscape(dst, at, c);
  }
  if (n > run) at += src.copy(dst, at, run, n);
  dst[at++] = 0x22;
  return at;
}

/** A value stringified with placeholders, and the bytes that replace each placeholder, in order. */
interface Rendered {
  json: string;
  cuts: { at: number; end: number; piece: Buffer }[];
  /** Bytes of all pieces together. */
  pieceBytes: number;
}

/**
 * Encodes lines into reused 1 MB slabs. A fresh worst-case buffer per line (~3 bytes per UTF-16
 * unit, 128 KB for a 20 KB prompt's record) is a fresh mapping from the allocator each time, and
 * the kernel's page faults on writing into it cost as much as the encoding. A slab whose lines have
 * all been written is reused from its start, so in steady state the same warm pages take every line.
 *
 * A record's long strings and stand-ins are not escaped by JSON.stringify: each is escaped as
 * bytes (escapeUtf8), the rest of the record is stringified with placeholders in their place, and
 * the pieces are spliced. When a placeholder's text is not found exactly once (a string that
 * happens to contain it), or the record cannot take placeholders (frozen), the value is
 * stringified whole instead.
 */
export class LineEncoder {
  private current: Slab | null = null;
  private spare: Slab | null = null;
  private raw = Buffer.allocUnsafeSlow(64 * 1024);
  private raw32 = new Int32Array(this.raw.buffer, 0, this.raw.length >> 2);
  /** Escaped pieces of the record being encoded, bump-allocated; reset for every record. */
  private scratch = Buffer.allocUnsafeSlow(256 * 1024);
  private scratchAt = 0;

  encode(record: unknown): { line: Buffer; slab: Slab | null } {
    this.scratchAt = 0;
    const r = this.render(record, false, { chars: SPLICE_CHARS });
    if (r.cuts.length === 0) return this.encodeJson(r.json);

    const worst = r.json.length * 3 + r.pieceBytes + 1;
    let out: Buffer;
    let start: number;
    let slab: Slab | null = null;
    if (worst > SLAB_SIZE >> 2) {
      let exact = r.pieceBytes + 1;
      let prev = 0;
      for (const c of r.cuts) {
        exact += Buffer.byteLength(r.json.slice(prev, c.at), 'utf8');
        prev = c.end;
      }
      exact += Buffer.byteLength(r.json.slice(prev), 'utf8');
      out = Buffer.allocUnsafe(exact);
      start = 0;
    } else {
      slab = this.take(worst);
      out = slab.buf;
      start = slab.used;
    }
    let at = this.assemble(r, 'utf8', out, start);
    out[at++] = 0x0a;
    if (slab) {
      slab.used = at;
      slab.pending += 1;
    }
    return { line: out.subarray(start, at), slab };
  }

  /**
   * `value` stringified with its long strings and stand-ins as placeholders, each piece escaped
   * into the scratch buffer. `latin`: the strings of `value` are byte strings.
   */
  private render(value: unknown, latin: boolean, budget: Budget): Rendered {
    const splices: Splice[] = [];
    collectLong(value, splices, budget);
    if (splices.length === 0) return { json: JSON.stringify(value), cuts: [], pieceBytes: 0 };

    let json: string;
    let set = 0;
    try {
      for (; set < splices.length; set++) {
        const sp = splices[set]!;
        (sp.holder as Record<string | number, unknown>)[sp.key] = TOKEN + set;
      }
      json = JSON.stringify(value);
    } catch {
      json = '';
    } finally {
      for (let i = 0; i < set; i++) {
        const sp = splices[i]!;
        (sp.holder as Record<string | number, unknown>)[sp.key] = sp.value;
      }
    }
    const whole = (): Rendered => ({ json: JSON.stringify(value), cuts: [], pieceBytes: 0 });
    if (set < splices.length) return whole();

    // Where each placeholder is; it must occur exactly once.
    const cuts: Rendered['cuts'] = [];
    for (let i = 0; i < splices.length; i++) {
      const tok = JSON.stringify(TOKEN + i);
      const at = json.indexOf(tok);
      if (at < 0 || json.indexOf(tok, at + 1) >= 0) return whole();
      cuts.push({ at, end: at + tok.length, piece: EMPTY });
    }
    let pieceBytes = 0;
    for (let i = 0; i < splices.length; i++) {
      const piece = this.piece(splices[i]!.value, latin, budget);
      cuts[i]!.piece = piece;
      pieceBytes += piece.length;
    }
    cuts.sort((a, b) => a.at - b.at);
    return { json, cuts, pieceBytes };
  }

  /** One long string or stand-in as JSON, in the scratch buffer. */
  private piece(v: Splice['value'], latin: boolean, budget: Budget): Buffer {
    if (v instanceof ByteStrings) {
      const r = this.render(v.value, true, budget);
      const dst = this.reserve(r.json.length + r.pieceBytes);
      const start = this.scratchAt;
      const end = this.assemble(r, 'latin1', dst, start);
      this.scratchAt = end;
      return dst.subarray(start, end);
    }
    let n: number;
    if (v instanceof Utf8Text) {
      n = v.bytes.length;
      this.rawRoom(n);
      v.bytes.copy(this.raw, 0);
    } else if (latin) {
      n = v.length;
      this.rawRoom(n);
      this.raw.write(v, 0, 'latin1');
    } else {
      this.rawRoom(v.length * 3);
      n = this.raw.write(v, 0, 'utf8');
      // A lone surrogate is written as U+FFFD's bytes but escaped by JSON.stringify (\udc00): only
      // a string whose UTF-8 shows U+FFFD can have one, and such a string is left to JSON.stringify.
      if (this.raw.subarray(0, n).indexOf(REPLACEMENT_UTF8) >= 0 && !(v as unknown as { isWellFormed(): boolean }).isWellFormed()) {
        const json = JSON.stringify(v);
        const dst = this.reserve(json.length * 3);
        const start = this.scratchAt;
        this.scratchAt += dst.write(json, start, 'utf8');
        return dst.subarray(start, this.scratchAt);
      }
    }
    const dst = this.reserve(n * 6 + 2);
    const start = this.scratchAt;
    this.scratchAt = escapeUtf8(this.raw, this.raw32, n, dst, start);
    return dst.subarray(start, this.scratchAt);
  }

  /** Writes r's JSON text (as `encoding`) with its pieces in place, at out[at]; returns the end. */
  private assemble(r: Rendered, encoding: 'utf8' | 'latin1', out: Buffer, at: number): number {
    let prev = 0;
    for (const c of r.cuts) {
      if (c.at > prev) at += out.write(r.json.slice(prev, c.at), at, encoding);
      at += c.piece.copy(out, at);
      prev = c.end;
    }
    if (r.json.length > prev) at += out.write(r.json.slice(prev), at, encoding);
    return at;
  }

  private rawRoom(n: number): void {
    if (this.raw.length >= n) return;
    this.raw = Buffer.allocUnsafeSlow(Math.max(n + 3, this.raw.length * 2));
    this.raw32 = new Int32Array(this.raw.buffer, 0, this.raw.length >> 2);
  }

  /**
   * The scratch buffer, with `n` bytes free at scratchAt. A buffer that is too small is replaced;
   * the pieces already in the old one stay valid (they keep it alive).
   */
  private reserve(n: number): Buffer {
    if (this.scratchAt + n > this.scratch.length) {
      this.scratch = Buffer.allocUnsafeSlow(Math.max(n, this.scratch.length * 2));
      this.scratchAt = 0;
    }
    return this.scratch;
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

const EMPTY = Buffer.alloc(0);
