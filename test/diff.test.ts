import { randomUUID } from 'node:crypto';
import { readFile, writeFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { diffRunDir, writeFindings, FindingsSchema, InputError } from '../src/diff/index.js';
import { makeRunDir, removeRunDirs } from './fixtures/diff/make-run.js';

afterAll(removeRunDirs);

const TZS = ['Europe/Berlin', 'Asia/Shanghai', 'America/New_York'];
const BASES = ['https://api.example.com', 'https://api.example.cn'];

function canonicalPrompt(tz: string, base: string, session: string): string {
  const date = tz === 'Asia/Shanghai' ? '2026/07/01' : '2026-07-01';
  const dont = new URL(base).hostname.endsWith('.cn') ? 'Don\u2019t' : "Don't";
  return (
    `You are a coding agent. Session ${session}. Today's date: ${date}. ` +
    `${dont} guess; always run the tests before you answer.`
  );
}

describe('diffRunDir: the canonical example', () => {
  it('finds the date format (TZ) and the apostrophe (base URL) in one block as two findings', async () => {
    const dir = await makeRunDir({
      axes: { TZ: TZS, ANTHROPIC_BASE_URL: BASES },
      reps: 2,
      exchanges: (cell) => [
        { system: [canonicalPrompt(cell.values.TZ!, cell.values.ANTHROPIC_BASE_URL!, randomUUID())] },
      ],
    });
    const findings = await diffRunDir(dir);
    expect(() => FindingsSchema.parse(findings)).not.toThrow();
    const list = findings.findings;
    expect(list.map((f) => f.class)).toHaveLength(2);

    const date = list.find((f) => f.attribution.axes.join() === 'TZ')!;
    expect(date).toBeDefined();
    expect(date.class).toBe('format-change');
    expect(date.location.path).toBe('body.system[0].text');
    const shanghai = date.attribution.groups.find((g) => g.values.TZ?.includes('Asia/Shanghai'))!;
    expect(shanghai.baseline).toBe(false);
    expect(shanghai.values.TZ).toEqual(['Asia/Shanghai']);
    expect(shanghai.changes.map((c) => c.after)).toEqual(['/', '/']);
    expect(shanghai.changes[0]!.added[0]).toMatchObject({ cp: 'U+002F', name: 'SOLIDUS' });

    const apos = list.find((f) => f.attribution.axes.join() === 'ANTHROPIC_BASE_URL')!;
    expect(apos).toBeDefined();
    expect(apos.class).toBe('confusable');
    const cn = apos.attribution.groups.find((g) => !g.baseline)!;
    expect(cn.values.ANTHROPIC_BASE_URL).toEqual(['https://api.example.cn']);
    expect(cn.changes).toHaveLength(1);
    const change = cn.changes[0]!;
    expect(change.added).toEqual([{ cp: 'U+2019', char: '\u2019', name: 'RIGHT SINGLE QUOTATION MARK' }]);
    expect(change.removed[0]!.cp).toBe('U+0027');
    // The offset points at the apostrophe in the full prompt string of that group.
    const full = findings.texts[cn.textRef!]!;
    expect(full.slice(change.offsetAfter, change.offsetAfter + 1)).toBe('\u2019');
    expect(findings.summary.noise.maskedSpans).toBeGreaterThan(0);
  });

  it('writes findings.json that round-trips through the schema', async () => {
    const dir = await makeRunDir({
      axes: { TZ: TZS },
      reps: 2,
      exchanges: (cell) => [{ system: [canonicalPrompt(cell.values.TZ!, BASES[0]!, 'fixed')] }],
    });
    const findings = await diffRunDir(dir);
    const file = await writeFindings(dir, findings);
    const back = FindingsSchema.parse(JSON.parse(await readFile(file, 'utf8')));
    expect(back.findings).toHaveLength(1);
    expect(back.findings[0]!.class).toBe('format-change');
  });
});

describe('diffRunDir: attribution', () => {
  it('reports confounded axes and the cells that would separate them', async () => {
    // TZ and LANG move together: Shanghai always with zh_CN, Berlin always with de_DE.
    const dir = await makeRunDir({
      axes: { TZ: ['Asia/Shanghai', 'Europe/Berlin'], LANG: ['zh_CN.UTF-8', 'de_DE.UTF-8'] },
      cells: [
        { TZ: 'Asia/Shanghai', LANG: 'zh_CN.UTF-8' },
        { TZ: 'Europe/Berlin', LANG: 'de_DE.UTF-8' },
      ],
      reps: 2,
      exchanges: (cell) => [{ system: [`Date: ${cell.values.TZ === 'Asia/Shanghai' ? '2026/07/01' : '2026-07-01'}.`] }],
    });
    const { findings } = await diffRunDir(dir);
    expect(findings).toHaveLength(1);
    const attr = findings[0]!.attribution;
    expect(attr.confounded).toEqual([['TZ'], ['LANG']]);
    expect(attr.suggestedCells).toEqual(
      expect.arrayContaining([
        { TZ: 'Asia/Shanghai', LANG: 'de_DE.UTF-8' },
        { TZ: 'Europe/Berlin', LANG: 'zh_CN.UTF-8' },
      ]),
    );
  });

  it('reports an interaction when only two axes together determine a span', async () => {
    const dir = await makeRunDir({
      axes: { TZ: ['Asia/Shanghai', 'Europe/Berlin'], LANG: ['zh_CN.UTF-8', 'de_DE.UTF-8'] },
      reps: 2,
      exchanges: (cell) => {
        const both = cell.values.TZ === 'Asia/Shanghai' && cell.values.LANG === 'zh_CN.UTF-8';
        return [{ system: [`Use the tools${both ? '\u200B' : ''} provided.`] }];
      },
    });
    const { findings } = await diffRunDir(dir);
    expect(findings).toHaveLength(1);
    expect(findings[0]!.class).toBe('invisible');
    expect(findings[0]!.attribution.axes).toEqual(['TZ', 'LANG']);
    expect(findings[0]!.attribution.interaction).toBe(true);
    const odd = findings[0]!.attribution.groups.find((g) => !g.baseline)!;
    expect(odd.combos).toEqual([{ TZ: 'Asia/Shanghai', LANG: 'zh_CN.UTF-8' }]);
    expect(odd.changes[0]!.added[0]).toMatchObject({ cp: 'U+200B', name: 'ZERO WIDTH SPACE' });
  });
});

describe('diffRunDir: classes', () => {
  it('classes a TZ name written into the prompt as echo, below covert changes', async () => {
    const dir = await makeRunDir({
      axes: { TZ: TZS },
      reps: 2,
      exchanges: (cell) => [
        {
          system: [
            `Timezone: ${cell.values.TZ}. Always${cell.values.TZ === 'Asia/Shanghai' ? '\u200D' : ''} be brief.`,
          ],
        },
      ],
    });
    const { findings } = await diffRunDir(dir);
    expect(findings.map((f) => f.class)).toEqual(['invisible', 'echo']);
    const echo = findings[1]!;
    expect(echo.echo).toEqual({ axis: 'TZ', value: expect.stringMatching(/\//) });
    expect(echo.changeClass).toBe('value-change');
    expect(echo.attribution.axes).toEqual(['TZ']);
  });

  it('classes the base-URL host in the Host header as echo', async () => {
    const dir = await makeRunDir({
      axes: { ANTHROPIC_BASE_URL: BASES },
      reps: 2,
      exchanges: (cell) => [
        {
          headers: [
            ['host', new URL(cell.values.ANTHROPIC_BASE_URL!).host],
            ['content-type', 'application/json'],
            ['x-request-id', randomUUID()],
          ],
        },
      ],
    });
    const { findings } = await diffRunDir(dir);
    expect(findings).toHaveLength(1);
    expect(findings[0]!.class).toBe('echo');
    expect(findings[0]!.location.path).toBe('headers.host');
    // The value the change brings in, not the baseline's own host.
    const variant = findings[0]!.attribution.groups.find((g) => !g.baseline)!;
    expect(findings[0]!.echo).toEqual({ axis: 'ANTHROPIC_BASE_URL', value: new URL(variant.values.ANTHROPIC_BASE_URL![0]!).host });
    expect(variant.values.ANTHROPIC_BASE_URL).toEqual([BASES[1]]);
  });

  it('classes a Cyrillic homoglyph as confusable', async () => {
    const dir = await makeRunDir({
      axes: { LANG: ['en_US.UTF-8', 'ru_RU.UTF-8'] },
      reps: 2,
      exchanges: (cell) => [
        { system: [`Please ${cell.values.LANG === 'ru_RU.UTF-8' ? '\u0430lw\u0430ys' : 'always'} answer in English.`] },
      ],
    });
    const { findings } = await diffRunDir(dir);
    expect(findings).toHaveLength(1);
    expect(findings[0]!.class).toBe('confusable');
    const g = findings[0]!.attribution.groups.find((x) => !x.baseline)!;
    expect(g.changes.flatMap((c) => c.added.map((a) => a.name))).toEqual([
      'CYRILLIC SMALL LETTER A',
      'CYRILLIC SMALL LETTER A',
    ]);
  });

  it('classes a no-break space as whitespace-lookalike and a version bump as value-change', async () => {
    const dir = await makeRunDir({
      axes: { HOME: ['/home/a', '/root'] },
      reps: 2,
      exchanges: (cell) => {
        const root = cell.values.HOME === '/root';
        return [
          {
            system: [`Be${root ? '\u00A0' : ' '}kind.`],
            headers: [['x-client-build', root ? '2026.07.1-r' : '2026.07.1']],
          },
        ];
      },
    });
    const { findings } = await diffRunDir(dir);
    expect(findings.map((f) => [f.class, f.location.path])).toEqual([
      ['whitespace-lookalike', 'body.system[0].text'],
      ['value-change', 'headers.x-client-build'],
    ]);
  });

  it('marks variation allowed by a manifest expect rule as expected', async () => {
    const dir = await makeRunDir({
      axes: { WORKDIR: ['/tmp/a', '/tmp/b'] },
      reps: 2,
      expect: [{ path: 'body.system[*].text', axis: 'WORKDIR' }],
      exchanges: (cell) => [{ system: [`Working directory: ${cell.values.WORKDIR}/src`] }],
    });
    const { findings } = await diffRunDir(dir);
    expect(findings).toHaveLength(1);
    expect(findings[0]!.class).toBe('expected');
    expect(findings[0]!.expected).toEqual({ path: 'body.system[*].text', axis: 'WORKDIR' });
  });

  it('reports a request sent only in some cells as request-presence', async () => {
    const dir = await makeRunDir({
      axes: { TZ: TZS },
      reps: 2,
      exchanges: (cell) => {
        const main = { system: ['Main agent.'] };
        return cell.values.TZ === 'Asia/Urumqi' || cell.values.TZ === 'Asia/Shanghai'
          ? [main, { system: ['Telemetry.'], path: '/v1/messages/count_tokens' }]
          : [main];
      },
    });
    const { findings } = await diffRunDir(dir);
    expect(findings).toHaveLength(1);
    expect(findings[0]!.class).toBe('request-presence');
    expect(findings[0]!.location.urlPath).toBe('/v1/messages/count_tokens');
    const present = findings[0]!.attribution.groups.find((g) => g.present)!;
    expect(present.values.TZ).toEqual(['Asia/Shanghai']);
  });

  it('reports a body field sent only in some cells as field-presence', async () => {
    const dir = await makeRunDir({
      axes: { CI: ['true', 'false'] },
      reps: 2,
      exchanges: (cell) => [
        {
          body: {
            model: 'm',
            system: 'x',
            ...(cell.values.CI === 'true' ? { metadata: { user_id: 'ci-runner' } } : {}),
          },
        },
      ],
    });
    const { findings } = await diffRunDir(dir);
    expect(findings.map((f) => `${f.class} ${f.location.path}`)).toEqual(['field-presence body.metadata.user_id']);
    expect(findings[0]!.attribution.axes).toEqual(['CI']);
    expect(findings[0]!.attribution.groups.find((g) => g.present)!.values.CI).toEqual(['true']);
  });

  it('reports an added message once, at the message, not once per leaf field', async () => {
    const dir = await makeRunDir({
      axes: { TZ: ['UTC', 'Asia/Shanghai'] },
      reps: 2,
      exchanges: (cell) => {
        const messages = [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }];
        if (cell.values.TZ === 'Asia/Shanghai') {
          messages.push({ role: 'assistant', content: [{ type: 'text', text: 'noted' }] });
        }
        return [{ body: { model: 'm', messages } }];
      },
    });
    const { findings } = await diffRunDir(dir);
    expect(findings.map((f) => `${f.class} ${f.location.path}`)).toEqual(['field-presence body.messages[1]']);
    expect(findings[0]!.fields).toEqual(
      expect.arrayContaining(['body.messages[1].role', 'body.messages[1].content[0].text']),
    );
  });

  it('reports a reordering of the same JSON keys', async () => {
    const dir = await makeRunDir({
      axes: { LANG: ['en_US.UTF-8', 'zh_CN.UTF-8'] },
      reps: 2,
      exchanges: (cell) => [
        { body: cell.values.LANG === 'zh_CN.UTF-8' ? { stream: true, model: 'm' } : { model: 'm', stream: true } },
      ],
    });
    const { findings } = await diffRunDir(dir);
    expect(findings.map((f) => `${f.location.path} ${f.attribution.axes.join()}`)).toEqual(['body{keys} LANG']);
  });
});

describe('diffRunDir: noise', () => {
  it('masks a per-run uuid but still finds a swapped character 40 bytes away', async () => {
    const filler = 'x'.repeat(20_000);
    const dir = await makeRunDir({
      axes: { TZ: ['Europe/Berlin', 'Asia/Shanghai'] },
      reps: 3,
      exchanges: (cell) => [
        {
          system: [
            `${filler} session=${randomUUID()} and then, forty bytes on: it${cell.values.TZ === 'Asia/Shanghai' ? '\u2019' : "'"}s ${filler}`,
          ],
        },
      ],
    });
    const f = await diffRunDir(dir);
    expect(f.findings).toHaveLength(1);
    expect(f.findings[0]!.attribution.axes).toEqual(['TZ']);
    expect(f.summary.noise.maskedSpans).toBeGreaterThan(0);
  });

  it('says noise cannot be told apart with one repetition', async () => {
    const dir = await makeRunDir({
      axes: { TZ: TZS },
      reps: 1,
      exchanges: () => [{ system: ['same'] }],
    });
    const f = await diffRunDir(dir);
    expect(f.findings).toHaveLength(0);
    expect(f.summary.noise.notes.join(' ')).toMatch(/1 repetition.*cannot be told apart/);
  });
});

describe('diffRunDir: input', () => {
  it('skips a torn last line with a warning', async () => {
    const dir = await makeRunDir({
      axes: { TZ: TZS },
      reps: 2,
      exchanges: () => [{ system: ['same'] }],
      trailer: { 'c001-r1': '{"v":1,"id":"tor' },
    });
    const f = await diffRunDir(dir);
    expect(f.findings).toHaveLength(0);
    expect(f.summary.warnings.join()).toMatch(/c001-r1.*exchanges\.jsonl:2: torn last line/);
  });

  it('fails with the file and line of a broken line in the middle', async () => {
    const dir = await makeRunDir({ axes: { TZ: TZS }, reps: 1, exchanges: () => [{ system: ['same'] }] });
    const file = join(dir, 'runs', 'c002-r1', 'exchanges.jsonl');
    const good = await readFile(file, 'utf8');
    await writeFile(file, `not json\n${good}`);
    await expect(diffRunDir(dir)).rejects.toThrow(/c002-r1\/exchanges\.jsonl:1: not valid JSON/);
    await expect(diffRunDir(dir)).rejects.toBeInstanceOf(InputError);
  });

  it('fails clearly on a record that is not a capture record', async () => {
    const dir = await makeRunDir({ axes: { TZ: TZS }, reps: 1, exchanges: () => [{ system: ['same'] }] });
    await appendFile(join(dir, 'runs', 'c001-r1', 'exchanges.jsonl'), '{"v":1}\n{"v":1}\n');
    await expect(diffRunDir(dir)).rejects.toThrow(/c001-r1\/exchanges\.jsonl:2: not a capture record/);
  });

  it('fails clearly without a manifest', async () => {
    await expect(diffRunDir('/nonexistent/run')).rejects.toThrow(/manifest\.json: cannot read/);
  });

  it('leaves failed runs out and lists them', async () => {
    const dir = await makeRunDir({
      axes: { TZ: TZS },
      reps: 2,
      status: { 'c003-r2': 'no-traffic' },
      exchanges: (cell, rep) => (cell.id === 'c003' && rep === 2 ? [] : [{ system: ['same'] }]),
    });
    const f = await diffRunDir(dir);
    expect(f.findings).toHaveLength(0);
    expect(f.summary.runsFailed).toEqual([{ id: 'c003-r2', cell: 'c003', status: 'no-traffic' }]);
  });
});

describe('diffRunDir: a canary-like run (the demo scenario, simulated)', () => {
  it('finds each planted channel once (with every request it occurs in), attributed to its axis, plus the Host echo, and nothing else', async () => {
    const axes = {
      TZ: ['UTC', 'America/New_York', 'Asia/Shanghai'],
      ANTHROPIC_BASE_URL: ['https://api.anthropic.com', 'https://llm-gateway.example.cn'],
      LANG: ['en_US.UTF-8', 'zh_CN.UTF-8'],
    };
    const dir = await makeRunDir({
      axes,
      reps: 2,
      exchanges: (cell) => {
        const session = randomUUID();
        const host = new URL(cell.values.ANTHROPIC_BASE_URL!).host;
        let always = 'Always answer as a careful, concise assistant.';
        if (cell.values.TZ!.startsWith('Asia/')) always = always.replace(/a/g, '\u0430');
        let tools = 'Use the tools provided to inspect the workspace.';
        if (host.endsWith('.cn')) tools = tools.replace('tools provided', 'tools\u200B provided');
        const system = [
          'You are Canary, an interactive coding agent that helps users with software engineering tasks.',
          `${always} Don't guess what a file contains; read it first. ${tools}`,
          '<env>',
          'Working directory: /sandbox/work',
          `Today's date: 2026-07-01`,
          `Session: ${session}`,
          '</env>',
        ].join('\n');
        const headers = (): Array<[string, string]> => [
          ['host', host],
          ['content-type', 'application/json'],
          ['x-client-build', cell.values.LANG!.startsWith('zh') ? '2026.07.1-r' : '2026.07.1'],
          ['x-request-id', randomUUID()],
        ];
        const call = (model: string, sys: string, turns: number) => ({
          model,
          headers: headers(),
          body: {
            model,
            max_tokens: 1024,
            system: sys,
            messages: Array.from({ length: turns }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: [{ type: 'text', text: `turn ${i}` }] })),
            metadata: { user_id: `session_${session}` },
          },
        });
        return [call('claude-haiku-4-5', 'Write a 3-word title.', 1), call('claude-sonnet-4-5', system, 1), call('claude-sonnet-4-5', system, 3)];
      },
    });
    const f = await diffRunDir(dir);
    // One finding per planted change, listing every aligned request that carries it.
    const got = f.findings.map(
      (x) =>
        `${x.class} ${x.location.path} ${x.attribution.axes.join('+')} in ` +
        x.locations.map((l) => `${l.model}#${l.ordinal}`).join(','),
    );
    expect(got).toEqual([
      'invisible body.system ANTHROPIC_BASE_URL in claude-sonnet-4-5#1,claude-sonnet-4-5#2',
      'confusable body.system TZ in claude-sonnet-4-5#1,claude-sonnet-4-5#2',
      'value-change headers.x-client-build LANG in claude-haiku-4-5#1,claude-sonnet-4-5#1,claude-sonnet-4-5#2',
      'echo headers.host ANTHROPIC_BASE_URL in claude-haiku-4-5#1,claude-sonnet-4-5#1,claude-sonnet-4-5#2',
    ]);
    expect(f.summary.counts).toEqual({
      total: 4,
      byClass: { invisible: 1, confusable: 1, 'value-change': 1, echo: 1 },
      occurrences: 10,
    });
    for (const x of f.findings) {
      // `location` and `span` are the first occurrence; every occurrence has its own span and per-group offsets.
      const { id: _id, span, groups, ...loc } = x.locations[0]!;
      expect(loc).toEqual(x.location);
      expect(span).toEqual(x.span);
      for (const l of x.locations) expect(l.groups).toHaveLength(x.attribution.groups.length);
      expect(x.summary).toContain(`in ${x.locations.length} requests`);
    }
    // The ZWSP sits at its offset in each request's own full prompt.
    const zwsp = f.findings[0]!;
    const cnIndex = zwsp.attribution.groups.findIndex((g) => !g.baseline);
    for (const l of zwsp.locations) {
      const g = l.groups[cnIndex]!;
      const change = zwsp.attribution.groups[cnIndex]!.changes[0]!;
      const full = f.texts[g.textRef!]!;
      expect(full.slice(change.offsetAfter - zwsp.attribution.groups[cnIndex]!.offset + g.offset).startsWith('\u200B')).toBe(true);
    }
    const homoglyph = f.findings.find((x) => x.class === 'confusable')!;
    const asia = homoglyph.attribution.groups.find((g) => !g.baseline)!;
    expect(asia.values.TZ).toEqual(['Asia/Shanghai']);
    expect(asia.changes.length).toBe(7);
    expect(asia.changes.every((c) => c.added[0]!.cp === 'U+0430')).toBe(true);
  });
});

describe('diffRunDir: one finding per change, with every request it occurs in', () => {
  const AXES = { TZ: ['Europe/Berlin', 'Asia/Shanghai'], LANG: ['de_DE.UTF-8', 'zh_CN.UTF-8'] };
  const zwsp = (on: boolean): string => `Use the tools${on ? '\u200B' : ''} provided.`;

  it('merges the same edit in aligned requests, also when the message index moves', async () => {
    const dir = await makeRunDir({
      axes: AXES,
      reps: 2,
      exchanges: (cell) => {
        const on = cell.values.TZ === 'Asia/Shanghai';
        const turns = (n: number): unknown[] =>
          Array.from({ length: n }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `turn ${i}` }));
        // The reminder is appended after a growing conversation: messages[1] in #1, messages[3] in #2.
        const body = (n: number): unknown => ({
          model: 'm',
          system: [{ type: 'text', text: zwsp(on) }],
          messages: [...turns(n), { role: 'user', content: `Reminder: ${zwsp(on)}` }],
        });
        return [{ body: body(1) }, { body: body(3) }];
      },
    });
    const f = await diffRunDir(dir);
    expect(f.findings.map((x) => [x.class, x.locations.map((l) => `${l.ordinal} ${l.path}`)])).toEqual([
      ['invisible', ['1 body.messages[1].content', '2 body.messages[3].content']],
      ['invisible', ['1 body.system[0].text', '2 body.system[0].text']],
    ]);
    expect(f.summary.counts).toMatchObject({ total: 2, occurrences: 4, byClass: { invisible: 2 } });
    expect(f.findings[0]!.summary).toMatch(/^body\.messages\[1\]\.content \| body\.messages\[3\]\.content in 2 requests/);
    // Merged ids are stable: a rerun on the same captures gives the same ids.
    expect((await diffRunDir(dir)).findings.map((x) => x.id)).toEqual(f.findings.map((x) => x.id));
  });

  it('keeps changes apart when the attribution, the edit or the value differs', async () => {
    const dir = await makeRunDir({
      axes: AXES,
      reps: 2,
      exchanges: (cell) => {
        const sh = cell.values.TZ === 'Asia/Shanghai';
        const zh = cell.values.LANG === 'zh_CN.UTF-8';
        const headers = (build: string): Array<[string, string]> => [['host', 'h'], ['x-build', build]];
        return [
          // #1: ZWSP driven by TZ; #2: the same ZWSP driven by LANG; #3: a different invisible (ZWJ) driven by TZ.
          { system: [zwsp(sh)], headers: headers(zh ? '1.0-r' : '1.0') },
          { system: [zwsp(zh)], headers: headers(zh ? '2.0-r' : '2.0') },
          { system: [`Use the tools${sh ? '\u200D' : ''} provided.`], headers: headers(zh ? '1.0-r' : '1.0') },
        ];
      },
    });
    const f = await diffRunDir(dir);
    const got = f.findings.map((x) => `${x.class} ${x.location.path} ${x.attribution.axes.join()} #${x.locations.map((l) => l.ordinal).join(',')}`);
    expect(got).toEqual([
      'invisible body.system[0].text TZ #1',
      'invisible body.system[0].text LANG #2',
      'invisible body.system[0].text TZ #3',
      // The same "-r" suffix on two different values is two value changes; on the same value, one.
      'value-change headers.x-build LANG #1,3',
      'value-change headers.x-build LANG #2',
    ]);
    expect(f.summary.counts.total).toBe(5);
    expect(f.summary.counts.occurrences).toBe(6);
  });
});

describe('diffRunDir: alignment', () => {
  const AXES = { TZ: ['Europe/Berlin', 'Asia/Shanghai'], LANG: ['de_DE.UTF-8', 'zh_CN.UTF-8'] };
  /** A growing conversation: request i carries 2i+1 messages; the ZWSP follows TZ. */
  const turn = (i: number, sh: boolean): ExchangeSpecLike => ({
    body: {
      model: 'claude-sonnet-4-5',
      system: [{ type: 'text', text: `Use the tools${sh ? '\u200B' : ''} provided.` }],
      messages: Array.from({ length: 2 * i + 1 }, (_, k) => ({ role: k % 2 ? 'assistant' : 'user', content: `turn ${k}` })),
    },
  });
  type ExchangeSpecLike = { body: unknown; path?: string; headers?: Array<[string, string]> };

  it('reports a request retried in the middle of some cells once, and still lines up the later ones', async () => {
    const dir = await makeRunDir({
      axes: AXES,
      reps: 2,
      exchanges: (cell) => {
        const sh = cell.values.TZ === 'Asia/Shanghai';
        const reqs = [turn(0, sh), turn(1, sh), turn(2, sh), turn(3, sh)];
        // zh_CN cells retry the second request once (same body sent twice).
        if (cell.values.LANG === 'zh_CN.UTF-8') reqs.splice(2, 0, turn(1, sh));
        return reqs;
      },
    });
    const f = await diffRunDir(dir);
    const got = f.findings.map((x) => `${x.class} ${x.location.path} ${x.attribution.axes.join()} #${x.locations.map((l) => l.ordinal).join(',')}`);
    // The retry is its own aligned request (#3): sent only in zh_CN cells, and carrying the ZWSP there too.
    expect(got).toEqual([
      'invisible body.system[0].text TZ #1,2,4,5',
      'invisible body.system[0].text TZ #3',
      'request-presence request LANG #3',
    ]);
    const present = f.findings[2]!.attribution.groups.find((g) => g.present)!;
    expect(present.values.LANG).toEqual(['zh_CN.UTF-8']);
    expect(f.summary.alignedRequests).toBe(5);
  });

  it('treats a retry in one repetition only as noise, not as a shift of every later request', async () => {
    const dir = await makeRunDir({
      axes: AXES,
      reps: 2,
      exchanges: (cell, rep) => {
        const sh = cell.values.TZ === 'Asia/Shanghai';
        const reqs = [turn(0, sh), turn(1, sh), turn(2, sh)];
        if (cell.id === 'c002' && rep === 2) reqs.splice(1, 0, turn(0, sh));
        return reqs;
      },
    });
    const f = await diffRunDir(dir);
    expect(f.findings.map((x) => `${x.class} ${x.location.path} ${x.attribution.axes.join()} ${x.locations.length}`)).toEqual([
      'invisible body.system[0].text TZ 3',
    ]);
    expect(f.summary.noise.maskedPresence).toBe(1);
  });

  it('lines up two different requests that race (their order swaps between runs) by content, not by order', async () => {
    const main = (sh: boolean): ExchangeSpecLike => ({
      body: { model: 'claude-sonnet-4-5', system: [{ type: 'text', text: 'You are the main agent.' }], messages: [{ role: 'user', content: 'Fix the test.' }] },
    });
    const sub = (sh: boolean): ExchangeSpecLike => ({
      body: {
        model: 'claude-sonnet-4-5',
        system: [{ type: 'text', text: `You are a search subagent; report${sh ? '\u200B' : ''} findings briefly, with file paths.` }],
        messages: [{ role: 'user', content: 'Find the test.' }, { role: 'assistant', content: 'Looking.' }, { role: 'user', content: 'Go on.' }],
      },
    });
    const dir = await makeRunDir({
      axes: AXES,
      reps: 3,
      exchanges: (cell, rep) => {
        const sh = cell.values.TZ === 'Asia/Shanghai';
        // Sent in parallel: which one the proxy sees first varies from run to run.
        const swapped = (rep + Number(cell.id.slice(1))) % 2 === 0;
        return swapped ? [sub(sh), main(sh)] : [main(sh), sub(sh)];
      },
    });
    const f = await diffRunDir(dir);
    expect(f.summary.alignedRequests).toBe(2);
    expect(f.findings.map((x) => `${x.class} ${x.location.path} ${x.attribution.axes.join()} ${x.locations.length}`)).toEqual([
      'invisible body.system[0].text TZ 1',
    ]);
  });

  it('compares requests sent under a base-URL path prefix byte by byte, the prefix showing up in the request line', async () => {
    const bases = ['https://api.anthropic.com', 'https://gw.example.cn/anthropic'];
    const dir = await makeRunDir({
      axes: { ANTHROPIC_BASE_URL: bases },
      reps: 2,
      exchanges: (cell) => {
        const url = new URL(cell.values.ANTHROPIC_BASE_URL!);
        const cn = url.hostname.endsWith('.cn');
        const prefix = url.pathname.replace(/\/+$/, '');
        const headers: Array<[string, string]> = [['host', url.host], ['content-type', 'application/json']];
        return [
          { system: [`Use the tools${cn ? '\u200B' : ''} provided.`], path: `${prefix}/v1/messages`, headers },
          { system: ['Count me.'], path: `${prefix}/v1/messages/count_tokens?beta=true`, headers },
        ];
      },
    });
    const f = await diffRunDir(dir);
    expect(f.summary.alignedRequests).toBe(2);
    expect(f.findings.filter((x) => x.class === 'request-presence')).toEqual([]);
    const got = f.findings.map((x) => `${x.class} ${x.location.path} ${x.attribution.axes.join()} ${x.location.urlPath}`);
    // Two request lines, two values: the same prefix on each is one value change per request line.
    expect(got).toEqual([
      'invisible body.system[0].text ANTHROPIC_BASE_URL /v1/messages',
      'value-change request.line ANTHROPIC_BASE_URL /v1/messages/count_tokens',
      'value-change request.line ANTHROPIC_BASE_URL /v1/messages',
      // The host is the same echo in both requests; it is told under the first in order (count_tokens, as the dialect reads its path).
      'echo headers.host ANTHROPIC_BASE_URL /v1/messages/count_tokens',
    ]);
    expect(f.findings[3]!.locations).toHaveLength(2);
    for (const line of f.findings.slice(1, 3)) {
      const cn = line.attribution.groups.find((g) => g.values.ANTHROPIC_BASE_URL?.includes(bases[1]!))!;
      expect(cn.text).toMatch(/anthropic/);
      expect(cn.changes.map((c) => c.after).join('')).toMatch(/anthropic/);
    }
  });
});

describe('classification: TR39 confusables decide', () => {
  const view = (before: string, after: string, word = 'Today') => ({
    changes: [
      {
        offsetBefore: 5,
        offsetAfter: 5,
        cpOffsetBefore: 5,
        cpOffsetAfter: 5,
        before,
        after,
        removed: [],
        added: [],
      },
    ],
    baselineToken: `${word}${before}s`,
    token: `${word}${after}s`,
    context: `${word}${after}s date is`,
    baselineContext: `${word}${before}s date is`,
  });

  it.each(['\u02BC', '\u02B9', '\u2019', '\u02BB', '\uFF07', '\u2032'])('U+0027 → %s is confusable (TR39 maps it to U+0027), above value-change', async (after) => {
    const { classifyGroup, rank } = await import('../src/diff/classify.js');
    const cls = classifyGroup(view("'", after));
    expect(cls).toBe('confusable');
    expect(rank(cls)).toBeLessThan(rank('value-change'));
  });

  it('a letter for an unrelated letter stays a value change', async () => {
    const { classifyGroup } = await import('../src/diff/classify.js');
    expect(classifyGroup(view('a', 'q', 'Tod'))).toBe('value-change');
  });

  it('summary.unicode names the TR39 table', async () => {
    const { UNICODE_DATA } = await import('../src/diff/unicode.js');
    expect(UNICODE_DATA.confusables).toMatch(/TR39 confusables\.txt 10\.0\.0/);
  });
});

describe('diffRunDir: touching changes with different causes', () => {
  it('the year (by clock) and the separator (by TZ) of one date are two findings, not one interaction', async () => {
    const dir = await makeRunDir({
      axes: { CLOCK: ['2026', '2025'], TZ: ['UTC', 'Asia/Shanghai'] },
      reps: 2,
      exchanges: (cell) => {
        const sep = cell.values.TZ === 'Asia/Shanghai' ? '/' : '-';
        return [{ system: [`Session ${randomUUID()}. Today's date is ${cell.values.CLOCK}${sep}07${sep}01.`] }];
      },
    });
    const findings = await diffRunDir(dir);
    const byAxes = findings.findings.map((f) => `${f.class} ${f.attribution.axes.join('×')}`).sort();
    // The year is the CLOCK value itself: an echo.
    expect(byAxes).toEqual(['echo CLOCK', 'format-change TZ']);
  });
});

describe('diffRunDir: a machine factor’s own content sent back is an echo, whatever its code points', () => {
  const README = {
    en: '# tempconv\nA tiny tool that converts temperatures.\nRun `npm test` to run the tests.\n',
    zh: '# tempconv\n一个转换温度的小工具。\n运行 `npm test` 来跑测试。\n',
    fa: '# tempconv\nابزاری کوچک برای تبدیل دما.\nبرای اجرای آزمون‌ها `npm test` را اجرا کنید.\n',
  };
  const factors = {
    'workspace.language': {
      kind: 'workspace-files',
      summary: 'readme',
      baseline: 'en',
      values: Object.fromEntries(Object.entries(README).map(([k, v]) => [k, { files: { 'README.md': v } }])),
      shows: Object.fromEntries(Object.entries(README).map(([k, v]) => [k, [k, v]])),
    },
  };

  it('a README in another language read back in a tool result is echo, not invisible or confusable', async () => {
    const dir = await makeRunDir({
      axes: { 'workspace.language': ['en', 'zh', 'fa'] },
      reps: 2,
      factors,
      exchanges: (cell) => [{ system: [`Session ${randomUUID()}.\nTool result:\n${README[cell.values['workspace.language'] as keyof typeof README]}`] }],
    });
    const findings = await diffRunDir(dir);
    expect(findings.findings.length).toBeGreaterThan(0);
    for (const f of findings.findings) expect(f.class, f.summary).toBe('echo');
    expect(findings.findings.some((f) => f.changeClass === 'invisible' || f.changeClass === 'confusable')).toBe(true);
  });

  it('a covert mark keyed on the same factor is still covert', async () => {
    const dir = await makeRunDir({
      axes: { 'workspace.language': ['en', 'zh'] },
      reps: 2,
      factors,
      exchanges: (cell) => [{ system: [`Session ${randomUUID()}. Don${cell.values['workspace.language'] === 'zh' ? '\u2019' : "'"}t guess.`] }],
    });
    const findings = await diffRunDir(dir);
    expect(findings.findings.map((f) => f.class)).toEqual(['confusable']);
  });
});

describe('diffRunDir: ids are noise as a whole', () => {
  it('a uuid whose first character happens to agree within each cell is masked, not a finding', async () => {
    const hex = () => randomUUID().slice(1);
    const dir = await makeRunDir({
      axes: { TZ: ['UTC', 'Asia/Shanghai', 'Europe/Berlin'] },
      reps: 2,
      // By chance (here on purpose) both runs of a cell share the uuid's first character.
      // A character the diff splits off: a fixed run of the id lies between it and the random rest.
      exchanges: (cell) => [{ system: ['Be brief.'], headers: [['x-client-request-id', `${{ UTC: 'a', 'Asia/Shanghai': 'b', 'Europe/Berlin': 'c' }[cell.values.TZ!]}-0000-${hex()}`]] }],
    });
    const findings = await diffRunDir(dir);
    expect(findings.findings.map((f) => f.summary)).toEqual([]);
  });

  it('a hostname beside a noisy port is still an echo of the base URL: words are not ids', async () => {
    const dir = await makeRunDir({
      axes: { ANTHROPIC_BASE_URL: ['https://api.anthropic.com', 'https://llm-gateway.example.cn'] },
      reps: 2,
      exchanges: (cell) => [{ system: ['Be brief.'], headers: [['host', `${new URL(cell.values.ANTHROPIC_BASE_URL!).hostname}:${30000 + Math.floor(Math.random() * 30000)}`]] }],
    });
    const findings = await diffRunDir(dir);
    expect(findings.findings.map((f) => `${f.class} ${f.location.path}`)).toEqual(['echo headers.host']);
  });
});
