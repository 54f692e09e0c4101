import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { noProxyExcludes } from '../src/audit/factors.js';
import { coveringArray, FULL_FACTORIAL_MAX_CELLS, followUpCells, foldOverCells, screenCells, type AuditFactor, type AuditProfile } from '../src/audit/design.js';

const factors: AuditFactor[] = [
  { name: 'tz', baseline: 'UTC', values: ['UTC', 'Asia/Shanghai', 'Europe/Moscow', 'Asia/Tokyo'] },
  { name: 'host', baseline: 'devbox', values: ['devbox', 'zhangwei-pc', 'ipetrov-pc'] },
  { name: 'dns', baseline: 'stub', values: ['stub', 'alidns'] },
];
const profiles: AuditProfile[] = [
  { name: 'cn', values: { tz: 'Asia/Shanghai', host: 'zhangwei-pc', dns: 'alidns' } },
  { name: 'ru', values: { tz: 'Europe/Moscow', host: 'ipetrov-pc' } },
];

describe('audit design', () => {
  test('screen: baseline, one cell per profile, each profile value alone; no cell twice', () => {
    const cells = screenCells(factors, profiles, false);
    expect(cells[0]).toEqual({ values: { tz: 'UTC', host: 'devbox', dns: 'stub' }, purposes: ['baseline'] });
    expect(cells.map((c) => c.purposes.join(' + '))).toEqual([
      'baseline',
      'profile cn',
      'profile ru',
      'one-at-a-time tz=Asia/Shanghai',
      'one-at-a-time tz=Europe/Moscow',
      'one-at-a-time host=zhangwei-pc',
      'one-at-a-time host=ipetrov-pc',
      'one-at-a-time dns=alidns',
    ]);
    // Asia/Tokyo is in no profile: only --all-values tries it.
    expect(screenCells(factors, profiles, true).some((c) => c.values.tz === 'Asia/Tokyo')).toBe(true);
  });

  test('fold-over: the profile with each of its factors put back to baseline', () => {
    const cells = foldOverCells(factors, [profiles[0]!], new Set());
    expect(cells.map((c) => c.values)).toEqual([
      { tz: 'UTC', host: 'zhangwei-pc', dns: 'alidns' },
      { tz: 'Asia/Shanghai', host: 'devbox', dns: 'alidns' },
      { tz: 'Asia/Shanghai', host: 'zhangwei-pc', dns: 'stub' },
    ]);
  });

  test(`follow-up: the full factorial up to ${FULL_FACTORIAL_MAX_CELLS} cells, a covering array past it`, () => {
    const small = followUpCells(factors, new Map([['tz', ['UTC', 'Asia/Shanghai']], ['dns', ['stub', 'alidns']]]), new Set());
    expect(small.design).toBe('full');
    expect(small.cells).toHaveLength(4);
    const many: AuditFactor[] = Array.from({ length: 12 }, (_, i) => ({ name: `f${i}`, baseline: 'b', values: ['b', 'x', 'y'] }));
    const big = followUpCells(many, new Map(many.map((f) => [f.name, f.values])), new Set());
    expect(big.design).toBe('pairwise');
    expect(big.cells.length).toBeLessThan(30);
  });

  test('covering array: every pair of values of every two factors occurs; deterministic', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 2, maxLength: 9 }), (sizes) => {
        const values = new Map(sizes.map((n, i) => [`f${i}`, Array.from({ length: n }, (_, v) => `v${v}`)]));
        const cells = coveringArray(values, { other: 'base' });
        const names = [...values.keys()];
        for (let f = 0; f < names.length; f++) {
          for (let g = f + 1; g < names.length; g++) {
            for (const a of values.get(names[f]!)!) {
              for (const b of values.get(names[g]!)!) expect(cells.some((c) => c[names[f]!] === a && c[names[g]!] === b)).toBe(true);
            }
          }
        }
        for (const c of cells) expect(c.other).toBe('base');
        expect(coveringArray(values, { other: 'base' })).toEqual(cells);
      }),
      { numRuns: 60 },
    );
  });
});

describe('NO_PROXY', () => {
  test('names, .suffixes and * exclude a host; other entries do not', () => {
    expect(noProxyExcludes('.corp.example.com,10.0.0.0/8,localhost', 'llm-gateway.corp.example.com')).toBe(true);
    expect(noProxyExcludes('corp.example.com', 'corp.example.com')).toBe(true);
    expect(noProxyExcludes('*', 'api.anthropic.com')).toBe(true);
    expect(noProxyExcludes('localhost,127.0.0.1,.alibaba-inc.com', 'api.deepseek.com')).toBe(false);
    expect(noProxyExcludes('example.com', 'notexample.com')).toBe(false);
  });
});
