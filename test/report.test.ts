import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffRunDir, writeFindings, InputError, type Findings } from '../src/diff/index.js';
import { EXIT, exitCodeFor, exitCodeForError } from '../src/report/exit-code.js';
import { renderHtml } from '../src/report/html.js';
import { readFindings, renderJson } from '../src/report/json.js';
import { renderFindingLine, renderTerminal } from '../src/report/terminal.js';
import { wrapLine } from '../src/report/fit.js';
import { makeRunDir, removeRunDirs } from './fixtures/diff/make-run.js';

afterAll(removeRunDirs);

const ANSI = /\x1b\[/;

async function canonical(): Promise<{ dir: string; findings: Findings }> {
  const dir = await makeRunDir({
    axes: { TZ: ['Europe/Berlin', 'Asia/Shanghai'], ANTHROPIC_BASE_URL: ['https://api.example.com', 'https://api.example.cn'] },
    reps: 2,
    exchanges: (cell) => {
      const sh = cell.values.TZ === 'Asia/Shanghai';
      const cn = cell.values.ANTHROPIC_BASE_URL!.endsWith('.cn');
      return [
        {
          system: [
            `Session ${randomUUID()}. Date: ${sh ? '2026/07/01' : '2026-07-01'}. ${cn ? 'Don\u2019t' : "Don't"} guess. ` +
              `Use the tools${sh ? '\u200B' : ''} provided. <b>&</b>`,
          ],
        },
      ];
    },
  });
  return { dir, findings: await diffRunDir(dir) };
}

let fixture: { dir: string; findings: Findings };
beforeAll(async () => {
  fixture = await canonical();
});

describe('terminal report', () => {
  it('prints one line per finding, most suspicious first, with escaped code points and no colour unless asked', () => {
    const out = renderTerminal(fixture.findings);
    expect(out).not.toMatch(ANSI);
    const lines = out.trimEnd().split('\n');
    const findingLines = lines.filter((l) => /^(invisible|confusable|punctuation-swap|format-change)\b/.test(l));
    expect(findingLines.map((l) => l.split(' ')[0])).toEqual(['invisible', 'confusable', 'format-change']);
    expect(findingLines[0]).toContain('tools\\u{200B} provided');
    expect(findingLines[0]).toContain('TZ ∈ {Asia/Shanghai}');
    expect(findingLines[0]).toContain('U+200B ZERO WIDTH SPACE');
    expect(findingLines[1]).toContain("Don't");
    expect(findingLines[1]).toContain('Don\\u{2019}t');
    expect(findingLines[1]).toContain('body.system[0].text@');
    expect(lines[0]).toMatch(/^promptdiff: 3 findings/);
  });

  it('uses ANSI colour when asked', () => {
    expect(renderTerminal(fixture.findings, { color: true })).toMatch(ANSI);
  });

  it('wraps to a terminal width without losing a character; one line per finding without a width', () => {
    const plain = renderTerminal(fixture.findings);
    expect(Math.max(...plain.split('\n').map((l) => l.length))).toBeGreaterThan(100);
    const squeeze = (t: string) => t.replace(/\x1b\[[0-9;]*m/g, '').replace(/\s+/g, '');
    for (const color of [false, true]) {
      const wide = renderTerminal(fixture.findings, { color });
      const narrow = renderTerminal(fixture.findings, { color, width: 60 });
      const visible = (l: string) => Array.from(l.replace(/\x1b\[[0-9;]*m/g, '')).length;
      for (const line of narrow.split('\n')) expect(visible(line), line).toBeLessThanOrEqual(60);
      // Continuation lines are indented, so every finding still starts at the margin...
      expect(narrow.split('\n').filter((l) => /^\S/.test(l)).length).toBe(wide.trimEnd().split('\n').length);
      // ...and nothing is cut: the same text, only the breaks differ.
      expect(squeeze(narrow)).toBe(squeeze(wide));
      // A highlight open at a break is closed before it and reopened after the indent.
      if (color) for (const line of narrow.split('\n')) expect(line).not.toMatch(/^\x1b\[7m\s/);
    }
  });

  it('wraps at spaces outside quotes, breaks a long quoted span at the margin, never inside an escape', () => {
    expect(wrapLine('aaaa bbbb cccc dddd eeee ffff gggg', 20, 2)).toBe('aaaa bbbb cccc dddd\n  eeee ffff gggg');
    const quoted = `x "${'ab '.repeat(10)}" y`;
    const wrapped = wrapLine(quoted, 20, 2).split('\n');
    expect(wrapped[0]).toBe('x "ab ab ab ab ab ab');
    // Broken inside the quotes, so no space was dropped: the rows, unindented, are the line.
    expect(wrapped.map((r, i) => (i ? r.slice(2) : r)).join('')).toBe(quoted);
    const escapes = wrapLine(`zz ${'\\u{200B}'.repeat(6)}`, 20, 2);
    for (const row of escapes.split('\n')) expect(row.trim()).toMatch(/^(zz )?(\\u\{200B\})+$/);
  });

  it('an echo names the value the change brings in, and is shown as values, not code point by code point', async () => {
    const dir = await makeRunDir({
      axes: { ANTHROPIC_BASE_URL: ['https://api.anthropic.com', 'https://llm-gateway.example.cn'] },
      reps: 2,
      exchanges: (cell) => [{ headers: [['host', new URL(cell.values.ANTHROPIC_BASE_URL!).host], ['content-type', 'application/json']] }],
    });
    const f = (await diffRunDir(dir)).findings[0]!;
    expect(f.class).toBe('echo');
    const line = renderFindingLine(f);
    expect(line).toContain('[echoes ANTHROPIC_BASE_URL value llm-gateway.example.cn]');
    expect(line).toContain('"api.anthropic.com" → "llm-gateway.example.cn"');
    // Whatever the bytes alone were, an echo's letters are not listed one by one.
    for (const changeClass of ['confusable', 'format-change'] as const) expect(renderFindingLine({ ...f, changeClass })).not.toMatch(/U\+[0-9A-F]{4}/);
  });
});

describe('JSON report and exit codes', () => {
  it('renders findings.json that reads back identically', async () => {
    const file = await writeFindings(fixture.dir, fixture.findings);
    const back = await readFindings(fixture.dir);
    expect(back).toEqual(JSON.parse(renderJson(fixture.findings)));
    expect(file).toBe(join(fixture.dir, 'findings.json'));
  });

  it('says what to do when findings.json is missing or stale', async () => {
    const dir = await makeRunDir({ axes: { TZ: ['a', 'b'] }, reps: 1, exchanges: () => [] });
    await expect(readFindings(dir)).rejects.toThrow(/findings\.json: cannot read.*promptdiff diff/);
    await writeFile(join(dir, 'findings.json'), '{"v": 0}');
    const err = await readFindings(dir).catch((e: unknown) => e);
    expect(String(err)).toMatch(/not a findings file of this version/);
    expect(exitCodeForError(err)).toBe(EXIT.inputError);
  });

  it('maps results to 0, 1, 2 and 3', async () => {
    expect(exitCodeFor(fixture.findings)).toBe(1);
    const clean = await diffRunDir(await makeRunDir({ axes: { TZ: ['a', 'b'] }, reps: 2, exchanges: () => [{}] }));
    expect(exitCodeFor(clean)).toBe(0);
    const failed = await diffRunDir(
      await makeRunDir({ axes: { TZ: ['a', 'b'] }, reps: 2, exchanges: () => [{}], status: { 'c001-r1': 'timeout' } }),
    );
    expect(exitCodeFor(failed)).toBe(3);
    expect(exitCodeForError(new InputError('bad'))).toBe(2);
    const expectedOnly = await diffRunDir(
      await makeRunDir({
        axes: { WORKDIR: ['/a', '/b'] },
        reps: 2,
        expect: [{ path: 'body.system[*].text', axis: 'WORKDIR' }],
        exchanges: (cell) => [{ system: [`cwd ${cell.values.WORKDIR}`] }],
      }),
    );
    expect(expectedOnly.findings.map((f) => f.class)).toEqual(['expected']);
    expect(exitCodeFor(expectedOnly)).toBe(0);
  });
});

describe('HTML report', () => {
  it('is self-contained and highlights changed code points with their names', () => {
    const html = renderHtml(fixture.findings);
    expect(html).not.toMatch(/<script|<link|<img|\bsrc=|@import|url\(/i);
    expect(html).toMatch(/class="cp-changed" title="U\+2019 RIGHT SINGLE QUOTATION MARK"/);
    expect(html).toMatch(/class="cp-changed" title="U\+200B ZERO WIDTH SPACE">\u200B<span class="cp-marker">U\+200B<\/span>/);
    expect(html).toMatch(/class="cp-changed" title="U\+002F SOLIDUS">\//);
    // User text is escaped, never markup.
    expect(html).not.toContain('<b>&</b>');
    expect(html).toContain('&#60;b&#62;&#38;&#60;/b&#62;');
  });

  it('says "2 repetitions per cell", not "2–2"', () => {
    const html = renderHtml(fixture.findings);
    expect(html).toContain(' · 2 repetitions per cell · ');
    expect(html).not.toMatch(/\d–\d repetitions/);
    const uneven = { ...fixture.findings, summary: { ...fixture.findings.summary, repetitions: { min: 1, max: 2 } } };
    expect(renderHtml(uneven)).toContain(' · 1–2 repetitions per cell · ');
  });

  it('labels an inserted invisible character and the empty spot opposite it in the full captured text', () => {
    const html = renderHtml(fixture.findings);
    const inv = fixture.findings.findings.find((x) => x.class === 'invisible')!;
    const section = html.slice(html.indexOf(`id="${inv.id}"`), html.indexOf('</section>', html.indexOf(`id="${inv.id}"`)));
    const full = section.match(/<details><summary>Full captured [^]*?<\/details>/g)!;
    expect(full).toHaveLength(2);
    // Baseline first: nothing there, said so; then the variant: the U+200B itself, kept, and labelled.
    expect(full[0]).toMatch(/<mark class="here" title="the other variant has code points here that this one lacks"><\/mark>/);
    expect(full[1]).toContain('<mark><span class="cp-hidden" data-cp="U+200B" title="U+200B ZERO WIDTH SPACE">\u200B</span></mark>');
    expect(html).toMatch(/pre\.full mark\.here::after\{content:'nothing here'/);
    expect(html).toMatch(/pre\.full \.cp-hidden::after\{content:attr\(data-cp\)/);
  });

  it('has a cells × findings matrix and the full prompt behind a click', () => {
    const html = renderHtml(fixture.findings);
    const start = html.indexOf('<table class="matrix">');
    const matrix = html.slice(start, html.indexOf('</table>', start));
    expect(matrix.match(/<tr>/g)).toHaveLength(1 + 4);
    expect(matrix.match(/href="#f-/g)).toHaveLength(3);
    const details = html.match(/<details><summary>Full captured body\.system\[0\]\.text/g) ?? [];
    expect(details.length).toBeGreaterThanOrEqual(6);
    expect(html).toMatch(/<pre class="full">Session [0-9a-f-]{36}\. Date: /);
  });
});

describe('a change repeated in several requests', () => {
  it('is one terminal line saying in how many requests, and the HTML lists each of them', async () => {
    const dir = await makeRunDir({
      axes: { TZ: ['Europe/Berlin', 'Asia/Shanghai'] },
      reps: 2,
      exchanges: (cell) => {
        const system = [`Use the tools${cell.values.TZ === 'Asia/Shanghai' ? '\u200B' : ''} provided.`];
        return [{ system }, { system }, { system, model: 'claude-haiku-4-5' }];
      },
    });
    const findings = await diffRunDir(dir);
    expect(findings.findings).toHaveLength(1);
    const lines = renderTerminal(findings).trimEnd().split('\n');
    expect(lines[0]).toMatch(/^promptdiff: 1 finding \(1 invisible\) in 3 places/);
    expect(lines[1]).toMatch(/^invisible {2}body\.system\[0\]\.text@13 in 3 requests \(/);
    expect(lines[1]).toContain('claude-haiku-4-5 POST /v1/messages #1; anthropic-messages messages claude-sonnet-4-5 POST /v1/messages #1, #2)');
    const html = renderHtml(findings);
    expect(html).toContain('in 3 requests:');
    expect(html.match(/<li>anthropic-messages messages claude-/g)).toHaveLength(3);
  });
});
