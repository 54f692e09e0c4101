import { LineEncoder, RawBytes } from './encode.js';
import type { SecretValues } from './secret-values.js';

/*
 * The runner's pass over a finished run (scenario/redact-run.ts) replaces every known secret value
 * by its tag in the run's files. A capture line holds its bodies as base64, where no value can be
 * seen: each body is decoded and searched as bytes, and the line is encoded again the way the proxy
 * writes it (LineEncoder: the rest of the line searched without its bodies, which a chance match in
 * base64 would corrupt).
 */

interface BodyLike {
  base64: string | RawBytes;
  size?: unknown;
}

function bodiesOf(record: unknown): BodyLike[] {
  const r = record as { request?: { body?: BodyLike }; response?: { body?: BodyLike } | null } | null;
  return [r?.request?.body, r?.response?.body].filter((b): b is BodyLike => typeof b === 'object' && b !== null && typeof b.base64 === 'string');
}

/** One encoder for every line of the pass: its slab is reused from line to line. */
const encoder = new LineEncoder();

/**
 * One capture line (its bytes read as latin1, without the newline) with every value SecretValues
 * knows replaced by its tag; the line itself when nothing changed. A line that is not a record
 * with base64 bodies (a version-1 line, a torn one) is searched as text, as it was written.
 */
export function redactStoredLine(line: string, secrets: SecretValues): string {
  let record: unknown;
  try {
    record = JSON.parse(Buffer.from(line, 'latin1').toString('utf8'));
  } catch {
    return secrets.text(line);
  }
  const bodies = bodiesOf(record);
  if (bodies.length === 0) return secrets.text(line);
  let changed = false;
  const search = (bytes: Buffer): Buffer => {
    const latin = bytes.toString('latin1');
    const clean = secrets.text(latin);
    if (clean === latin) return bytes;
    changed = true;
    return Buffer.from(clean, 'latin1');
  };
  for (const b of bodies) {
    const held = Buffer.from(b.base64 as string, 'base64');
    const bytes = search(held);
    b.base64 = new RawBytes(bytes);
    if (bytes !== held) b.size = bytes.length;
  }
  const { line: out, slab } = encoder.encode(record, search);
  // The line without its newline, as it came (copied out of the encoder's slab).
  const text = out.subarray(0, out.length - 1).toString('latin1');
  encoder.release(slab);
  return changed ? text : line;
}
