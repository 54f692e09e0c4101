import { describe, expect, test } from 'vitest';
import { ddmin } from '../src/explain/ddmin.js';
import { explainVariant, type Oracle, type Outcome, type VariantPlan } from '../src/explain/design.js';
import { locate, outcomeOf } from '../src/explain/outcome.js';
import { shapeNamed, shapeOfValues, type ShapeName } from '../src/explain/shapes.js';
import type { Finding, Findings } from '../src/diff/index.js';

/**
 * The explain design against oracles that answer from a known rule, no agent involved: each
 * rule below must come back exactly, within the run target (≤ 100 probes per variant).
 */

/** Claude Code 2.1.91's decoded rule (docs/agents.md), on the base URL's host. */
const KNOWN = ['cn', 'alibaba-inc.com', 'baidu.com', 'moonshot.ai'];
const KEYWORDS = ['deepseek', 'moonshot', 'bigmodel', 'zhipu'];
function apostrophe(url: string): string {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return "'";
  }
  const known = KNOWN.some((z) => host === z || host.endsWith(`.${z}`));
  const kw = KEYWORDS.some((z) => host.includes(z));
  return !known && !kw ? "'" : known && !kw ? '\u2019' : !known && kw ? '\u02BC' : '\u02B9';
}

function oracleOf(rule: (value: string) => string | null, log: string[] = []): Oracle {
  return async (requests) =>
    requests.map((r): Outcome => {
      log.push(r.value);
      const v = rule(r.value);
      return v === null ? { status: 'failed', message: 'boom' } : { status: 'ok', variant: v };
    });
}

function plan(target: string, from: string, shape: ShapeName, extra: Partial<VariantPlan> = {}): VariantPlan {
  const s = shapeNamed(shape);
  return {
    target,
    from,
    baselineValue: null,
    shape: s,
    accepts: s.valid,
    corpora: [],
    subject: (f) => (f === 'host' ? 'base URL host' : f),
    batch: 2,
    exhausted: () => false,
    ...extra,
  };
}

describe('ddmin', () => {
  test('finds a 1-minimal subset and never runs an invalid candidate', async () => {
    const asked: boolean[][] = [];
    // Needs units 2 and 5 of 8.
    const keep = await ddmin(8, async (ks) => ks.map((k) => (asked.push(k), k[2]! && k[5]!)), { batch: 2, valid: (k) => k.some(Boolean) });
    expect(keep.flatMap((k, i) => (k ? [i] : []))).toEqual([2, 5]);
    expect(asked.every((k) => k.some(Boolean))).toBe(true);
  });
});

describe('explain design on known rules', () => {
  test('keyword: deepseek anywhere in the host, case-insensitive', async () => {
    const r = await explainVariant(plan('\u02BC', 'https://api.deepseek.com/anthropic', 'url'), oracleOf(apostrophe));
    expect(r.minimal).toEqual(['https://deepseek']);
    expect(r.conditions).toEqual([{ field: 'host', relation: 'contains', value: 'deepseek', caseInsensitive: true }]);
    expect(r.rule).toBe('base URL host contains `deepseek` (any position, case-insensitive)');
    expect(r.runs).toBeLessThanOrEqual(100);
  });

  test('suffix: a .cn host, and cn itself', async () => {
    const r = await explainVariant(plan('\u2019', 'https://api.example-relay.cn', 'url'), oracleOf(apostrophe));
    expect(r.minimal).toEqual(['https://cn']);
    expect(r.conditions).toEqual([{ field: 'host', relation: 'domain-suffix', value: 'cn', caseInsensitive: true, orEqual: true }]);
    expect(r.rule).toBe('base URL host is `cn` or ends with `.cn` (case-insensitive)');
  });

  test('conjunction: a keyword and a suffix, in one host', async () => {
    const r = await explainVariant(plan('\u02B9', 'https://open.bigmodel.cn/api/anthropic', 'url'), oracleOf(apostrophe));
    expect(r.minimal).toEqual(['https://bigmodel.cn']);
    expect(r.conditions.map((c) => [c.relation, c.value])).toEqual([
      ['contains', 'bigmodel'],
      ['domain-suffix', 'cn'],
    ]);
    expect(r.rule).toMatch(/^base URL host contains `bigmodel` .* and ends with `\.cn`/);
    expect(r.runs).toBeLessThanOrEqual(100);
  });

  test('a known domain: ends with .baidu.com, not baidu anywhere', async () => {
    const r = await explainVariant(plan('\u2019', 'https://qianfan.baidu.com/v2', 'url'), oracleOf(apostrophe));
    expect(r.minimal).toEqual(['https://baidu.com']);
    expect(r.conditions).toEqual([{ field: 'host', relation: 'domain-suffix', value: 'baidu.com', caseInsensitive: true, orEqual: true }]);
  });

  test('free text: a prefix and a suffix in one value come out as two conditions', async () => {
    const rule = (v: string) => (/^zhang/.test(v) && /qq\.com$/.test(v) ? 'X' : '-');
    const r = await explainVariant(plan('X', 'zhang.wei.dev@qq.com', 'text', { subject: () => 'GIT_EMAIL' }), oracleOf(rule));
    expect(r.minimal).toEqual(['zhangqq.com']);
    expect(r.conditions.map((c) => [c.relation, c.value])).toEqual([
      ['starts-with', 'zhang'],
      ['ends-with', 'qq.com'],
    ]);
  });

  test('exact list: every zone of a corpus tried, the members named', async () => {
    const zones = ['Etc/UTC', 'Asia/Shanghai', 'Asia/Urumqi', 'Asia/Kashgar', 'Asia/Tokyo', 'PRC'];
    const list = new Set(['Asia/Urumqi', 'Asia/Kashgar']);
    const r = await explainVariant(
      plan('/', 'Asia/Urumqi', 'zone', { corpora: [{ name: 'tzdata', values: zones }], subject: () => 'time zone' }),
      oracleOf((v) => (list.has(v) ? '/' : '-')),
    );
    expect(r.minimal).toEqual(['Asia/Kashgar', 'Asia/Urumqi']);
    expect(r.rule).toBe('time zone ∈ {Asia/Kashgar, Asia/Urumqi} (2 of 6 tried)');
    expect(r.runs).toBe(6);
  });

  test('exact value of free text: the corpus makes it a list', async () => {
    const r = await explainVariant(
      plan('X', 'ecs-3f2a', 'hostname', { corpora: [{ name: 'catalogue', values: ['devbox', 'VM-0-3-ubuntu', 'ecs-3f2a', 'fv-az123-456'] }], subject: () => 'hostname' }),
      oracleOf((v) => (v === 'ecs-3f2a' || v === 'VM-0-3-ubuntu' ? 'X' : '-')),
    );
    expect(r.conditions[0]!.relation).toBe('one-of');
    expect(r.minimal).toEqual(['VM-0-3-ubuntu', 'ecs-3f2a']);
  });

  test('numeric threshold: binary search between the baseline and the witness value', async () => {
    const r = await explainVariant(
      plan('X', '65536', 'number', { baselineValue: '4096', subject: () => 'MAX_TOKENS' }),
      oracleOf((v) => (Number(v) >= 32000 ? 'X' : '-')),
    );
    expect(r.conditions).toEqual([{ field: 'value', relation: 'at-least', value: '32000' }]);
    expect(r.rule).toMatch(/^MAX_TOKENS ≥ 32000 \(numeric: 31999 gives the baseline/);
    expect(r.runs).toBeLessThan(25);
  });

  test('a failed probe is reported, never read as the variant being absent', async () => {
    const r = await explainVariant(plan('\u02BC', 'https://api.deepseek.com', 'url'), oracleOf((v) => (v === 'https://deepseek.com' ? null : apostrophe(v))));
    const failed = r.probes.filter((p) => p.status === 'failed');
    expect(failed.map((p) => p.value)).toEqual(['https://deepseek.com']);
    expect(failed[0]!.variant).toBeNull();
    expect(r.notes.join()).toMatch(/1 probe run failed/);
    expect(r.conditions).toEqual([{ field: 'host', relation: 'contains', value: 'deepseek', caseInsensitive: true }]);
  });

  test('shapes of environment values', () => {
    expect(shapeOfValues(['4096', '65536'])).toBe('number');
    expect(shapeOfValues(['https://a.example', 'http://b'])).toBe('url');
    expect(shapeOfValues(['a@b.org'])).toBe('email');
    expect(shapeOfValues(['api.example.org'])).toBe('hostname');
    expect(shapeOfValues(['/opt/x', 'a/b'])).toBe('path');
    expect(shapeOfValues(['hello world'])).toBe('text');
  });
});

describe('judging a probe from a diff beside the anchors', () => {
  const group = (text: string, cells: string[], baseline = false) => ({ text, cells, baseline });
  const finding = (groups: ReturnType<typeof group>[], path = 'body.system') =>
    ({ id: 'f-x', span: { offset: 0, length: 1, cpOffset: 0 }, location: { exchange: 'e #1', path }, locations: [{ exchange: 'e #1', path }], attribution: { groups } }) as unknown as Finding;
  // The run's finding: the date's separators, U+002D → U+002F.
  const original = finding([group('-07-', ['a'], true), group('/07/', ['b'])]);
  const anchors = { baseline: { cell: 'a', text: '-07-' }, variants: [{ cell: 'b', text: '/07/' }] };

  test('a span merged with the day (another zone, another date) still reads as the variant or the baseline', () => {
    // In the probes' diff the day changed too in some zones, so the span grew to the day.
    const merged = finding([group('-07-01', ['a', 'p2'], true), group('/07/01', ['b']), group('/07/02', ['p1']), group('-07-02', ['p3']), group('.07.01', ['p4'])]);
    const located = locate({ findings: [merged] } as unknown as Findings, original, anchors)!;
    expect(located).not.toBeNull();
    expect(outcomeOf(located, 'p1', '-07-')).toEqual({ status: 'ok', variant: '/07/' });
    expect(outcomeOf(located, 'p2', '-07-')).toEqual({ status: 'ok', variant: '-07-' });
    expect(outcomeOf(located, 'p3', '-07-')).toEqual({ status: 'ok', variant: '-07-' });
    // A new separator at the variant's places: a new variant, named by what it put there.
    expect(outcomeOf(located, 'p4', '-07-')).toEqual({ status: 'ok', variant: '..' });
    expect(outcomeOf(located, 'p5', '-07-')).toEqual({ status: 'absent' });
  });

  test('another field, or anchors not split as in the run, is not the finding', () => {
    expect(locate({ findings: [finding([group('-07-', ['a'], true), group('/07/', ['b'])], 'body.messages[0].content')] } as unknown as Findings, original, anchors)).toBeNull();
    expect(locate({ findings: [finding([group('-07-', ['a', 'b'], true), group('/07/', ['c'])])] } as unknown as Findings, original, anchors)).toBeNull();
  });
});
