import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';

const V2 = path.join(import.meta.dirname, 'fixtures', 'formats', 'v2', 'capture');

describe('promptdiff show', () => {
  it('prints one line per exchange, and with --json each exchange as read: text bodies and the parsed view', async () => {
    const lines = await runCli(['show', V2]);
    expect(lines.code, lines.stderr).toBe(0);
    const out = lines.stdout.trim().split('\n');
    expect(out).toHaveLength(5);
    expect(out[0]).toMatch(/^\d\d:\d\d:\d\d forward POST api\.anthropic\.com\/v1\/messages anthropic-messages claude-haiku-4-5 200 /);
    const json = await runCli(['show', '--json', path.join(V2, 'exchanges.jsonl')]);
    expect(json.code, json.stderr).toBe(0);
    const records = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { request: { body: { encoding: string; text: string } }; parsed: { model: string; messages: { text: string }[] } });
    expect(records.map((r) => r.parsed.model)).toEqual(['claude-haiku-4-5', ...Array(4).fill('claude-sonnet-4-5')]);
    expect(records[2]!.request.body.encoding).toBe('utf8');
    expect(JSON.parse(records[2]!.request.body.text)).toHaveProperty('messages');
    expect(records[2]!.parsed.messages.at(-1)!.text).toContain('42-probe');
  });

  it('names the file and line of a damaged record in one line (exit 2)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pd-show-'));
    const [first, second] = (await readFile(path.join(V2, 'exchanges.jsonl'), 'utf8')).split('\n');
    const bad = JSON.parse(second!) as { request: { body: { base64: unknown } } };
    bad.request.body.base64 = 42;
    await writeFile(path.join(dir, 'exchanges.jsonl'), `${first}\n${JSON.stringify(bad)}\n`);
    const r = await runCli(['show', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^promptdiff: .*exchanges\.jsonl:2: not a capture record: request\.body\.base64: /);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
