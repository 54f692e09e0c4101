import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * What a file stores, for a test looking for a value in it: its bytes as latin1, and for a capture
 * (exchanges.jsonl, whose bodies are base64 in each line) every body's bytes decoded too, so a
 * value inside a body is seen as well as one in a header.
 */
export function storedText(file: string): string {
  const text = readFileSync(file, 'latin1');
  if (path.basename(file) !== 'exchanges.jsonl') return text;
  const bodies: string[] = [];
  for (const line of text.split('\n')) {
    let r: { request?: { body?: { base64?: unknown } }; response?: { body?: { base64?: unknown } } | null };
    try {
      r = JSON.parse(Buffer.from(line, 'latin1').toString('utf8')) as typeof r;
    } catch {
      continue;
    }
    for (const b of [r.request?.body, r.response?.body]) if (typeof b?.base64 === 'string') bodies.push(Buffer.from(b.base64, 'base64').toString('latin1'));
  }
  return [text, ...bodies].join('\n');
}
