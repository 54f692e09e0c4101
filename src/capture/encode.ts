/**
 * Capture records as JSONL lines, fast. The line for a record is byte-identical to
 * JSON.stringify(record) as UTF-8 plus a newline; what differs is how the bodies get there.
 *
 * A record draft holds each body as RawBytes: the bytes themselves, stored as base64. Base64 is
 * exact for any bytes, and Node writes it natively at ~0.15 ns a byte, where escaping a prompt as a
 * JSON string cost ~2 ns a byte (a JSON body is full of quotes, a prompt of newlines) and decoding
 * it to a JS string first as much again: measured on the proxy benchmark's 16 KB agent-shaped body,
 * 2.6 µs against 29-34 µs. The rest of the record (headers, URL, timing, errors) is small and goes
 * through JSON.stringify with a placeholder where each body goes, then the bodies are spliced in.
 */

/** A body's bytes in a record draft: its JSON is their base64 (so JSON.stringify of a draft is its line). */
export class RawBytes {
  constructor(readonly bytes: Buffer) {}
  toJSON(): string {
    return this.bytes.toString('base64');
  }
}

/**
 * One JSONL line as bytes. Buffer.from(string) is slow on two-byte strings (a header with a curly
 * quote is one): writing into a buffer sized for the worst case is not. Records over 1 MB are
 * measured exactly instead, so a 20 MB WebSocket turn does not reserve 60 MB.
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

/** Placeholders for the bodies while the rest of the record is stringified. */
const TOKEN = '\u0001promptdiff-raw-';

interface Splice {
  holder: Record<string, unknown>;
  key: string;
  value: RawBytes;
}

/**
 * The bodies of a record (request.body.base64, response.body.base64), where the proxy's drafts hold
 * them. A RawBytes anywhere else still encodes exactly, through its toJSON, only not spliced: a
 * walk over the whole record to find them cost more than the splicing saves (~4 µs a record).
 */
function collect(record: unknown, out: Splice[]): void {
  const r = record as { request?: { body?: unknown }; response?: { body?: unknown } | null } | null;
  for (const part of [r?.request, r?.response]) {
    const body = part?.body as Record<string, unknown> | undefined;
    if (body && typeof body === 'object' && body.base64 instanceof RawBytes && !Object.isFrozen(body)) out.push({ holder: body, key: 'base64', value: body.base64 });
  }
}

/** Each placeholder as it appears in the line (JSON-escaped), by index. */
const tokenBytes = (i: number): Buffer => (TOKENS[i] ??= Buffer.from(JSON.stringify(TOKEN + i), 'latin1'));
const TOKENS: Buffer[] = [];

/** Rewrites the record's line without its bodies (SecretValues.line); returns its argument when nothing changed. */
export type RedactMeta = (meta: Buffer) => Buffer;

/**
 * Encodes lines into reused 1 MB slabs. A fresh worst-case buffer per line is a fresh mapping from
 * the allocator each time, and the kernel's page faults on writing into it cost as much as the
 * encoding. A slab whose lines have all been written is reused from its start, so in steady state
 * the same warm pages take every line.
 *
 * `redact` sees the line with placeholders where the bodies go: a secret is searched for in the
 * headers, URL and errors as written, never in base64 (where it cannot be seen, and where a chance
 * match would corrupt the bytes). Bodies are redacted as bytes before they get here (proxy/record.ts).
 */
export class LineEncoder {
  private current: Slab | null = null;
  private spare: Slab | null = null;
  private meta = Buffer.allocUnsafeSlow(16 * 1024);

  encode(record: unknown, redact?: RedactMeta): { line: Buffer; slab: Slab | null } {
    const splices: Splice[] = [];
    collect(record, splices);
    let json: string;
    try {
      splices.forEach((sp, i) => (sp.holder[sp.key] = TOKEN + i));
      json = JSON.stringify(record);
    } finally {
      for (const sp of splices) sp.holder[sp.key] = sp.value;
    }
    if (this.meta.length < json.length * 3) this.meta = Buffer.allocUnsafeSlow(json.length * 3);
    let meta: Buffer = this.meta.subarray(0, this.meta.write(json, 0, 'utf8'));
    if (redact) meta = redact(meta);

    // Where each placeholder is; it must occur exactly once (a header could hold one).
    const cuts: { at: number; end: number; base64: string }[] = [];
    let bodies = 0;
    for (let i = 0; i < splices.length; i++) {
      const tok = tokenBytes(i);
      const at = meta.indexOf(tok);
      if (at < 0 || meta.indexOf(tok, at + 1) >= 0) return this.whole(JSON.stringify(record), redact);
      const base64 = splices[i]!.value.bytes.toString('base64');
      bodies += base64.length + 2;
      cuts.push({ at, end: at + tok.length, base64 });
    }
    cuts.sort((a, b) => a.at - b.at);

    const size = meta.length + bodies + 1;
    let out: Buffer;
    let start = 0;
    let slab: Slab | null = null;
    if (size > SLAB_SIZE >> 2) out = Buffer.allocUnsafe(size);
    else {
      slab = this.take(size);
      out = slab.buf;
      start = slab.used;
    }
    let at = start;
    let prev = 0;
    for (const c of cuts) {
      at += meta.copy(out, at, prev, c.at);
      out[at++] = 0x22;
      at += out.write(c.base64, at, 'latin1');
      out[at++] = 0x22;
      prev = c.end;
    }
    at += meta.copy(out, at, prev);
    out[at++] = 0x0a;
    if (slab) {
      slab.used = at;
      slab.pending += 1;
    }
    return { line: out.subarray(start, at), slab };
  }

  /** A line from the whole record's JSON (the rare fallback: a placeholder's text found in the record, its bodies' base64 redacted with the rest). */
  private whole(json: string, redact?: RedactMeta): { line: Buffer; slab: Slab | null } {
    const worst = json.length * 3 + 1;
    if (worst > SLAB_SIZE >> 2 || redact) {
      const line = encodeLine(json);
      return { line: redact ? redact(line) : line, slab: null };
    }
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
