/**
 * promptdiff scan on captures with planted characters — Claude Code 2.1.91's U+02BC apostrophe in
 * "Today's date", a zero-width space, a Cyrillic а, a bidi override, tag characters spelling a hidden
 * instruction, a no-break space — next to text that is ordinary and must not be reported: a Chinese
 * user prompt with full-width punctuation and an ideographic space, a Russian file read back, emoji
 * sequences, curly quotes used throughout.
 */
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllow, ScanReportSchema, scanPath, type ScanReport } from '../src/scan/index.js';
import { judgeText, emptyLegitimate } from '../src/scan/judge.js';
import { renderScan } from '../src/scan/render.js';
import { storedOf } from '../src/capture/view.js';
import { makeExchange, makeRunDir, removeRunDirs } from './fixtures/diff/make-run.js';
import { CHINESE, SYSTEM, writeScanCapture } from './fixtures/scan/capture.js';
import { runCli } from './helpers/cli.js';

afterAll(removeRunDirs);

let dir: string;
let report: ScanReport;

beforeAll(async () => {
  dir = await writeScanCapture(path.join(tmpdir(), 'scan-capture'));
  report = await scanPath(dir);
});

describe('promptdiff scan: planted characters', () => {
  it('reports each planted character once, grouped across the requests that resend it, most suspicious first', () => {
    expect(report.groups.map((g) => `${g.kind} ${g.codePoints.map((c) => c.cp).join('+')} ${g.field} ${g.requests}/${g.occurrences}`)).toEqual([
      'bidi-control U+202E body.messages[].content[].content 2/2',
      'invisible U+200B body.tools[].description 3/3',
      'invisible U+E0049+U+E0067+U+E006E+U+E006F+U+E0072+U+E0065 body.messages[].content[].content 2/2',
      'confusable U+0430 body.system[].text 3/3',
      'modifier-punctuation U+02BC body.system[].text 3/3',
      'unusual-space U+00A0 headers.user-agent 3/3',
    ]);
    expect(ScanReportSchema.parse(report)).toEqual(report);
  });

  it('names what each passes for, where it is, and the hidden text tag characters spell', () => {
    const apostrophe = report.groups.find((g) => g.kind === 'modifier-punctuation')!;
    expect(apostrophe.codePoints).toEqual([{ cp: 'U+02BC', char: '\u02BC', name: 'MODIFIER LETTER APOSTROPHE' }]);
    expect(apostrophe.looksLike).toBe("'");
    expect(apostrophe.words).toEqual(['Today\u02BCs']);
    const first = apostrophe.locations[0]!;
    expect(first).toMatchObject({ run: null, exchange: '1-abc', seq: 1, field: 'body.system[1].text' });
    expect(SYSTEM[1]!.slice(first.offset, first.offset + 1)).toBe('\u02BC');
    expect(first.context.before.endsWith('Today')).toBe(true);
    expect(first.context.after.startsWith('s date is')).toBe(true);
    expect(report.groups.find((g) => g.kind === 'confusable')!.looksLike).toBe('a');
    expect(report.groups.find((g) => g.decoded)!.decoded).toBe('Ignore');
  });

  it('leaves ordinary text alone, judged per word: the Chinese prompt, the Russian file, emoji, curly quotes used throughout', () => {
    const fields = new Set(report.groups.flatMap((g) => g.locations.map((l) => l.field)));
    expect(fields.has('body.messages[0].content')).toBe(false);
    expect([...fields].some((f) => f.startsWith('body.messages[4]'))).toBe(false);
    // The Read tool's description uses ’ throughout: typography, not a channel.
    expect(report.groups.some((g) => g.codePoints.some((c) => c.cp === 'U+2019'))).toBe(false);
    expect(report.ordinary.typographic['U+2019']).toBe(9);
    // What it judged ordinary is said, not silently dropped.
    expect(report.ordinary.letters.Han).toBeGreaterThan(60);
    expect(report.ordinary.letters.Cyrillic).toBeGreaterThan(60);
  });

  it('a Chinese prompt on its own, with full-width punctuation, an ideographic space and English words inside, is not flagged', () => {
    const ordinary = emptyLegitimate();
    expect(judgeText(CHINESE, ordinary)).toEqual([]);
    expect(ordinary.letters.get('Han')).toBe([...CHINESE].filter((ch) => /\p{Script=Han}/u.test(ch)).length);
  });

  it('per word, not per request: a second script inside one word is, a word of another script is not', () => {
    const kinds = (text: string) => judgeText(text, emptyLegitimate()).map((h) => `${h.kind} ${text.slice(h.offset, h.offset + h.length)}`);
    expect(kinds('Исправь ошибку в функции parseArgs')).toEqual([]);
    expect(kinds('привeт мир')).toEqual(['mixed-script e']);
    expect(kinds('Press сору to copy the file.')).toEqual(['confusable сору']);
    expect(kinds('Скопируй сору файла')).toEqual([]);
    expect(kinds("Don't guess. Today’s date")).toEqual(['mixed-punctuation ’']);
    expect(kinds('Todayʹs date')).toEqual(['modifier-punctuation ʹ']);
    expect(kinds('می‌خواهم')).toEqual([]);
    expect(kinds('a\uFE0F b ❤️')).toEqual(['invisible \uFE0F']);
  });

  it('prints one line per group, says it is a screening and points to run and audit to confirm', () => {
    const text = renderScan(report);
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^promptdiff scan: 6 suspicious spots \(1 bidi-control, 2 invisible, 1 confusable, 1 modifier-punctuation, 1 unusual-space\) in 16 places · 3 exchanges · \d+ fields/);
    expect(lines).toContain(
      'modifier-punctuation  U+02BC MODIFIER LETTER APOSTROPHE (looks like "\'")  body.system[].text in 3 requests (#1, #2, #3): "ory: /work\\nToday\\u{02BC}s date is 2026-0"',
    );
    expect(text).toMatch(/^note: a screening, not proof: .* promptdiff run SCENARIO .* promptdiff audit SCENARIO/m);
    expect(text).toMatch(/^ordinary: \d+ letters in words of one script \(Han \d+, Cyrillic \d+\); typographic punctuation used throughout its field \(U\+2019 ×9\)$/m);
  });

  it('an allow list takes out what the user declares legitimate', async () => {
    const kinds = async (...entries: string[]) => (await scanPath(dir, parseAllow(entries))).groups.map((g) => g.kind);
    expect(await kinds('U+02BC')).not.toContain('modifier-punctuation');
    expect(await kinds('kind:unusual-space', 'field:body.messages*')).toEqual(['invisible', 'confusable', 'modifier-punctuation']);
    expect(await kinds('script:Cyrillic')).not.toContain('confusable');
    expect(await kinds('Alwаys')).not.toContain('confusable');
    expect((await scanPath(dir, parseAllow(['U+E0000..U+E007F']))).groups.filter((g) => g.decoded)).toEqual([]);
    expect((await scanPath(dir, parseAllow(['U+02BC']))).allow.suppressed).toBe(3);
    expect(() => parseAllow(['script:Cyrilic'])).toThrow(/"Cyrilic" is not a Unicode script \(did you mean Cyrillic\?\)/);
    expect(() => parseAllow(['kind:invisibles'])).toThrow(/did you mean invisible\?/);
  });
});

describe('promptdiff scan on a scenario run directory', () => {
  it('reads every run and groups across them, naming the runs', async () => {
    const runDir = await makeRunDir({
      axes: { ANTHROPIC_BASE_URL: ['https://api.anthropic.com', 'https://api.deepseek.com'] },
      reps: 2,
      exchanges: (cell) => [{ system: [`Today${cell.values.ANTHROPIC_BASE_URL!.includes('deepseek') ? '\u02BC' : "'"}s date is 2026-07-01.`] }],
    });
    const r = await scanPath(runDir);
    expect(r.shape).toBe('run-dir');
    expect(r.scanned).toMatchObject({ exchanges: 4, runs: 4 });
    expect(r.groups).toHaveLength(1);
    expect(r.groups[0]!.locations.map((l) => l.run)).toEqual(['c002-r1', 'c002-r2']);
    expect(renderScan(r)).toContain('in 2 requests (c002-r1 #1, c002-r2 #1)');
  });
});

describe('promptdiff scan CLI', () => {
  it('exits 1 when something is found, 0 when not, 2 on input errors; --json is the report', async () => {
    const found = await runCli(['scan', dir, '--json']);
    expect(found.code).toBe(1);
    expect(ScanReportSchema.parse(JSON.parse(found.stdout)).groups).toHaveLength(6);
    const clean = path.join(tmpdir(), 'scan-clean.jsonl');
    await writeFile(clean, `${JSON.stringify(storedOf({ ...makeExchange({ user: CHINESE }, 1, 'r'), run: null }))}\n`);
    const none = await runCli(['scan', clean]);
    expect(none.code, none.stderr).toBe(0);
    expect(none.stdout).toMatch(/^promptdiff scan: nothing suspicious · 1 exchange · /);
    const allowFile = path.join(tmpdir(), 'allow.txt');
    await writeFile(allowFile, '# my own text\nU+02BC\nkind:unusual-space  # the gateway adds it\n');
    const allowed = await runCli(['scan', dir, '--allow-file', allowFile, '--allow', 'U+200B,script:Cyrillic', '--json']);
    expect(JSON.parse(allowed.stdout).groups.map((g: { kind: string }) => g.kind)).toEqual(['bidi-control', 'invisible']);
    for (const [args, message] of [
      [['scan', path.join(tmpdir(), 'nowhere')], /nowhere: no such file or directory/],
      [['scan', tmpdir()], /no exchanges\.jsonl here: give a proxy --out directory, a run directory/],
      [['scan', dir, '--allow', 'kind:bogus'], /"bogus" is not a kind/],
      [['scan'], /give one capture directory or \.jsonl file/],
    ] as const) {
      const r = await runCli([...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
