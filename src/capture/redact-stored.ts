import type { SecretValues } from './secret-values.js';

/*
 * The runner's pass over a finished run (scenario/redact-run.ts) replaces every known secret value
 * by its tag in the run's files. A capture line holds its bodies as base64, where no value can be
 * seen: each body is decoded, searched as bytes and encoded again, and the rest of the line is
 * searched as written (without the bodies, which a chance match in base64 would corrupt).
 */

interface BodyLike {
  base64?: unknown;
  size?: unknown;
}

function bodiesOf(record: unknown): BodyLike[] {
  const r = record as { request?: { body?: BodyLike }; response?: { body?: BodyLike } | null } | null;
  return [r?.request?.body, r?.response?.body].filter((b): b is BodyLike => typeof b === 'object' && b !== null && typeof b.base64 === 'string');
}

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
  const kept = bodies.map((b) => ({ base64: b.base64 as string, size: b.size }));
  bodies.forEach((b, i) => {
    const latin = Buffer.from(b.base64 as string, 'base64').toString('latin1');
    const clean = secrets.text(latin);
    if (clean === latin) return;
    const bytes = Buffer.from(clean, 'latin1');
    kept[i] = { base64: bytes.toString('base64'), size: bytes.length };
    changed = true;
  });
  for (const b of bodies) b.base64 = '';
  const meta = Buffer.from(JSON.stringify(record), 'utf8').toString('latin1');
  const cleanMeta = secrets.text(meta);
  if (!changed && cleanMeta === meta) return line;
  const out = cleanMeta === meta ? record : (JSON.parse(Buffer.from(cleanMeta, 'latin1').toString('utf8')) as unknown);
  const outBodies = bodiesOf(out);
  outBodies.forEach((target, i) => {
    target.base64 = kept[i]!.base64;
    target.size = kept[i]!.size;
  });
  return Buffer.from(JSON.stringify(out), 'utf8').toString('latin1');
}
