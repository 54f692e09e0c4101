import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { INSTALL_MARKER_FORMAT } from '../src/agents/install.js';
import { AUDIT_FORMAT } from '../src/audit/schema.js';
import { BISECT_FORMAT } from '../src/bisect/schema.js';
import { readExchanges } from '../src/capture/store.js';
import type { ExchangeRecord } from '../src/capture/schema.js';
import { diffRunDir } from '../src/diff/index.js';
import { FINDINGS_FORMAT } from '../src/diff/findings-schema.js';
import { EXPLAIN_FORMAT } from '../src/explain/schema.js';
import { readExplanations } from '../src/explain/store.js';
import { readFindings } from '../src/report/json.js';
import { MANIFEST_FORMAT } from '../src/scenario/manifest.js';
import { ManifestStore } from '../src/scenario/manifest-store.js';
import { MERGE_FORMAT, SHARD_FORMAT, readShardFile } from '../src/scenario/shards.js';
import type { Format } from '../src/artifact.js';

/**
 * Files written by version 1 (test/fixtures/formats/v1/README.md) must keep reading through today's
 * readers: a schema change that would strand old run directories fails here, and needs a migration.
 */
const V1 = path.join(import.meta.dirname, 'fixtures', 'formats', 'v1');
const at = (...parts: string[]) => path.join(V1, ...parts);

const FILES: Array<[string, Format<unknown>, string]> = [
  ['manifest.json', MANIFEST_FORMAT as Format<unknown>, at('run', 'manifest.json')],
  ['findings.json', FINDINGS_FORMAT as Format<unknown>, at('run', 'findings.json')],
  ['explain.json', EXPLAIN_FORMAT as Format<unknown>, at('run', 'explain', 'f-6c431e3f51', 'explain.json')],
  ['audit.json', AUDIT_FORMAT as Format<unknown>, at('audit', 'audit.json')],
  ['shard.json', SHARD_FORMAT as Format<unknown>, at('shard', 'shard.json')],
  ['merge.json', MERGE_FORMAT as Format<unknown>, at('merge', 'merge.json')],
  ['bisect.json', BISECT_FORMAT as Format<unknown>, at('bisect', 'bisect.json')],
  ['promptdiff-install.json', INSTALL_MARKER_FORMAT as Format<unknown>, at('agent-install', 'promptdiff-install.json')],
];

const scratch: string[] = [];
afterAll(async () => {
  for (const d of scratch) await rm(d, { recursive: true, force: true });
});

describe('version-1 files read through today\'s readers', () => {
  it.each(FILES)('%s', async (name, format, file) => {
    expect(format.file).toBe(name);
    const value = await format.read(file);
    expect(value).not.toBeNull();
    // Read, written back and read again: the writer's output is what the reader accepts.
    const again = format.parse(JSON.parse(format.serialise(value)), file);
    expect(again).toEqual(value);
  });

  it('the run directory: manifest, findings, captures and explanations through the commands\' own readers', async () => {
    const manifest = await ManifestStore.read(at('run'));
    expect(manifest?.runs.map((r) => r.id)).toEqual(['c001-r1', 'c001-r2', 'c002-r1', 'c002-r2']);
    const findings = await readFindings(at('run'));
    expect(findings.findings.some((f) => f.class === 'confusable' && f.attribution.axes.join() === 'TZ')).toBe(true);
    for (const run of manifest!.runs) {
      const { records, tornTail } = await readExchanges(at('run', 'runs', run.id));
      expect(tornTail).toBe(false);
      expect(records.length).toBe(run.exchanges);
    }
    expect([...(await readExplanations(at('run'))).keys()]).toEqual(['f-6c431e3f51']);
    expect((await readShardFile(at('shard')))?.shard).toBe('1/2');
  });

  it('version-1 captures migrate to bytes whose derived view is the view version 1 stored beside them', async () => {
    // Version 1 built the parsed view on the proxy's hot path and stored it; version 2 stores the
    // bytes and derives it when read (src/capture/view.ts). Both must read an exchange alike.
    let compared = 0;
    for (const run of ['c001-r1', 'c001-r2', 'c002-r1', 'c002-r2']) {
      const lines = (await readFile(at('run', 'runs', run, 'exchanges.jsonl'), 'utf8')).trim().split('\n');
      const { records } = await readExchanges(at('run', 'runs', run));
      lines.forEach((line, i) => {
        const old = JSON.parse(line) as ExchangeRecord & { v: number };
        const now = records[i]!;
        expect(old.v).toBe(1);
        expect(now.request.body).toEqual(old.request.body);
        expect(now.dialect).toBe(old.dialect);
        expect(now.parsed).toEqual(old.parsed);
        expect(now.response).toEqual(old.response);
        expect(now.errors).toEqual(old.errors);
        compared += 1;
      });
    }
    expect(compared).toBeGreaterThan(4);
  });

  it('version-2 captures read through today\'s reader (test/fixtures/formats/v2)', async () => {
    const { records, tornTail } = await readExchanges(path.join(import.meta.dirname, 'fixtures', 'formats', 'v2', 'capture'));
    expect(tornTail).toBe(false);
    expect(records.map((r) => [r.dialect, r.parsed?.model, r.stubTurn?.index ?? null])).toEqual([
      ['anthropic-messages', 'claude-haiku-4-5', null],
      ['anthropic-messages', 'claude-sonnet-4-5', 0],
      ['anthropic-messages', 'claude-sonnet-4-5', 1],
      ['anthropic-messages', 'claude-sonnet-4-5', 2],
      ['anthropic-messages', 'claude-sonnet-4-5', 3],
    ]);
    expect(records[2]!.parsed!.messages.at(-1)!.text).toContain('42-probe');
    expect(records[1]!.response!.sse!.length).toBeGreaterThan(3);
  });

  it('a version-1 run directory still diffs to its planted finding', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pd-v1-'));
    scratch.push(dir);
    await cp(at('run'), dir, { recursive: true });
    const findings = await diffRunDir(dir);
    const stored = JSON.parse(await readFile(at('run', 'findings.json'), 'utf8')) as { findings: Array<{ id: string; class: string }> };
    expect(findings.findings.filter((f) => f.class === 'confusable').map((f) => f.id)).toEqual(
      stored.findings.filter((f) => f.class === 'confusable').map((f) => f.id),
    );
  });
});

describe('defineFormat', () => {
  it('names the file and the field, refuses a newer version, and migrates an older one', async () => {
    const { defineFormat } = await import('../src/artifact.js');
    const { z } = await import('zod');
    const f = defineFormat({
      file: 't.json',
      limit: 'shard',
      version: 2,
      schema: z.object({ v: z.literal(2), name: z.string() }),
      what: 'a test file',
      migrations: { 1: (old) => ({ name: String(old.title) }) },
    });
    expect(f.parse({ v: 1, title: 'x' }, 'in/t.json')).toEqual({ v: 2, name: 'x' });
    expect(() => f.parse({ v: 2, name: 3 }, 'in/t.json')).toThrow(/^in\/t\.json: not a test file: name: /);
    expect(() => f.parse({ v: 3, name: 'x' }, 'in/t.json')).toThrow(/^in\/t\.json: not a test file: v: 3 is newer than this promptdiff reads \(2\); upgrade promptdiff$/);
    expect(() => f.parse({ v: 0, name: 'x' }, 'in/t.json')).toThrow(/^in\/t\.json: not a test file: v: /);
    const dir = await mkdtemp(path.join(tmpdir(), 'pd-fmt-'));
    scratch.push(dir);
    await f.write(f.pathIn(path.join(dir, 'sub')), { v: 2, name: 'y' });
    expect(await f.read(f.pathIn(path.join(dir, 'sub')))).toEqual({ v: 2, name: 'y' });
    expect(await f.read(path.join(dir, 'absent.json'))).toBeNull();
    await expect(f.write(f.pathIn(dir), { v: 2, name: 5 } as never)).rejects.toThrow();
    expect(await f.read(f.pathIn(dir))).toBeNull();
  });
});
