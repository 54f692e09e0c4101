import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import type { SecretValues } from '../capture/secret-values.js';
import { redactStoredLine } from '../capture/redact-stored.js';
import { EXCHANGES_FILE } from '../capture/store.js';

/** What a finished run leaves that may carry a secret value: its capture and the agent's output. */
export const RUN_FILES = [EXCHANGES_FILE, 'stdout.txt', 'stderr.txt'];

/**
 * Rewrites a finished run's files with every known secret value replaced by its tag, so the
 * captures the differ reads (and a researcher publishes) hold tags, never the values. The proxy
 * redacts by header and field name while recording; a value the agent copies anywhere else (a
 * prompt, a tool result, its own output) is caught here. The bytes are read as latin1 and cut at
 * newlines, so any file of any size and encoding comes back byte for byte except the
 * replacements; a file is replaced atomically, and only when something changed. A capture's lines
 * are redacted record by record (capture/redact-stored.ts: its bodies are base64).
 */
export async function redactRunFiles(dir: string, secrets: SecretValues, files: readonly string[] = RUN_FILES): Promise<number> {
  if (!secrets.enabled) return 0;
  let rewritten = 0;
  for (const name of files) {
    const file = path.join(dir, name);
    const isFile = await stat(file).then(
      (s) => s.isFile(),
      () => false,
    );
    if (!isFile) continue;
    const tmp = `${file}.${process.pid}.redact`;
    const out = createWriteStream(tmp);
    let changed = false;
    const capture = name === EXCHANGES_FILE;
    const redact = (text: string): string => (capture ? text.split('\n').map((line) => (line === '' ? line : redactStoredLine(line, secrets))).join('\n') : secrets.text(text));
    const emit = (bytes: Buffer) => {
      const text = bytes.toString('latin1');
      const clean = redact(text);
      if (clean !== text) changed = true;
      out.write(Buffer.from(clean, 'latin1'));
    };
    let carry: Buffer = Buffer.alloc(0);
    for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
      const buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
      const cut = buf.lastIndexOf(0x0a);
      if (cut < 0) {
        carry = buf;
        continue;
      }
      emit(buf.subarray(0, cut + 1));
      carry = Buffer.from(buf.subarray(cut + 1));
    }
    if (carry.length) emit(carry);
    out.end();
    await finished(out);
    if (changed) {
      await rename(tmp, file);
      rewritten += 1;
    } else {
      await rm(tmp, { force: true });
    }
  }
  return rewritten;
}
