import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, stat, symlink } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CaptureWriter, readExchanges, EXCHANGES_FILE } from '../src/capture/store.js';
import { buildRecord } from '../src/proxy/record.js';
import type { RecordDraft } from '../src/capture/schema.js';

let seq = 0;
function draft(text: string): RecordDraft {
  seq += 1;
  return buildRecord({
    seq,
    id: `${String(seq).padStart(6, '0')}-aaaaaa`,
    run: null,
    startedAt: new Date(0),
    route: 'reverse',
    client: { address: '127.0.0.1', port: 1 },
    tunnel: null,
    request: { method: 'POST', url: 'http://127.0.0.1/x', host: '127.0.0.1', path: '/x', httpVersion: '1.1', headers: [], contentEncoding: undefined, body: Buffer.from(text), incomplete: false },
    dialect: null,
    response: null,
    errors: [],
    keepSecrets: false,
  });
}

describe('capture writer', () => {
  it('writes appended and deferred records in order, one line each, 0600, and flush waits for them', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pd-writer-'));
    const w = await CaptureWriter.open(dir);
    const texts = Array.from({ length: 600 }, (_, i) => `body ${i} ${'\u00e9'.repeat(i * 7)}`);
    texts.forEach((t, i) => (i % 2 ? w.appendLater(() => draft(t)) : w.append(draft(t))));
    expect(w.written).toBe(600);
    await w.flush();
    const { records, tornTail } = await readExchanges(dir);
    expect(tornTail).toBe(false);
    expect(records.map((r) => r.request.body.text)).toEqual(texts);
    expect((await stat(path.join(dir, EXCHANGES_FILE))).mode & 0o777).toBe(0o600);
    await w.close();
  });

  it('reports a failing disk once, counts the lines it lost, and keeps accepting records', async () => {
    if (!existsSync('/dev/full')) return;
    const dir = await mkdtemp(path.join(tmpdir(), 'pd-writer-full-'));
    await symlink('/dev/full', path.join(dir, EXCHANGES_FILE));
    const errors: string[] = [];
    const w = await CaptureWriter.open(dir, (err, file) => errors.push(`${file}: ${err.message}`));
    for (let i = 0; i < 5; i++) w.append(draft(`x${i}`));
    await w.flush();
    w.append(draft('after'));
    await w.flush();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(path.join(dir, EXCHANGES_FILE));
    expect(errors[0]).toMatch(/ENOSPC/);
    expect(w.lostLines).toBe(6);
    await w.close();
  });

  it('a record that cannot be built is reported and the others are still written', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pd-writer-throw-'));
    const errors: string[] = [];
    const w = await CaptureWriter.open(dir, (err) => errors.push(err.message));
    w.appendLater(() => draft('one'));
    w.appendLater(() => {
      throw new Error('bad record');
    });
    w.appendLater(() => draft('three'));
    await w.close();
    expect(errors).toEqual(['bad record']);
    expect(w.lostLines).toBe(1);
    const lines = (await readFile(path.join(dir, EXCHANGES_FILE), 'utf8')).trim().split('\n');
    expect(lines.map((l) => Buffer.from((JSON.parse(l) as { request: { body: { base64: string } } }).request.body.base64, 'base64').toString('utf8'))).toEqual(['one', 'three']);
  });
});
