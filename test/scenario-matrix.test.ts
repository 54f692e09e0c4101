import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { validateScenario } from '../src/scenario/scenario-file.js';
import { expandMatrix, runCountOf, selectShard } from '../src/scenario/matrix.js';
import type { ScenarioInput } from '../src/scenario/schema.js';

const scenario = (extra: Partial<ScenarioInput>) =>
  validateScenario({ name: 'm', agent: { command: ['true'] }, ...extra }, 'test');

describe('matrix expansion', () => {
  test('full factorial: first axis slowest, proxy_url last, deterministic ids', () => {
    const s = scenario({
      axes: { TZ: ['UTC', 'Asia/Shanghai'], LANG: ['en', 'zh', 'fr'] },
      proxy_urls: ['http://127.0.0.1', 'http://corp.example.com:3128'],
      repetitions: 2,
    });
    const m = expandMatrix(s);
    expect(Object.keys(m.axes)).toEqual(['TZ', 'LANG', 'proxy_url']);
    expect(m.cells).toHaveLength(12);
    expect(m.cells[0]).toEqual({ id: 'c001', values: { TZ: 'UTC', LANG: 'en', proxy_url: 'http://127.0.0.1' } });
    expect(m.cells[1]!.values.proxy_url).toBe('http://corp.example.com:3128');
    expect(m.cells[11]).toEqual({ id: 'c012', values: { TZ: 'Asia/Shanghai', LANG: 'fr', proxy_url: 'http://corp.example.com:3128' } });
    expect(m.runs.map((r) => r.id).slice(0, 3)).toEqual(['c001-r1', 'c001-r2', 'c002-r1']);
    expect(m.runs).toHaveLength(24);
    expect(expandMatrix(s)).toEqual(m);
  });

  test('one-at-a-time: baseline plus each other value alone', () => {
    const m = expandMatrix(scenario({ axes: { A: ['a1', 'a2', 'a3'], B: ['b1', 'b2'] }, design: 'one-at-a-time', repetitions: 1 }));
    expect(m.cells.map((c) => c.values)).toEqual([
      { A: 'a1', B: 'b1' },
      { A: 'a2', B: 'b1' },
      { A: 'a3', B: 'b1' },
      { A: 'a1', B: 'b2' },
    ]);
  });

  test('explicit cells keep their order', () => {
    const m = expandMatrix(scenario({ axes: { A: ['x', 'y'] }, design: { cells: [{ A: 'y' }, { A: 'x' }] }, repetitions: 3 }));
    expect(m.cells).toEqual([
      { id: 'c001', values: { A: 'y' } },
      { id: 'c002', values: { A: 'x' } },
    ]);
    expect(m.runs).toHaveLength(6);
  });

  test('no axes is one cell', () => {
    expect(expandMatrix(scenario({})).cells).toEqual([{ id: 'c001', values: {} }]);
  });

  test('absurd sizes are refused unless yes', () => {
    const big = scenario({ axes: { A: Array.from({ length: 30 }, (_, i) => `${i}`), B: Array.from({ length: 30 }, (_, i) => `${i}`) } });
    expect(runCountOf(big)).toBe(1800);
    expect(() => expandMatrix(big)).toThrow(/1800 runs .* more than max_runs \(500\): pass --yes/);
    expect(expandMatrix(big, { yes: true }).runs).toHaveLength(1800);
    expect(expandMatrix(big, { yes: true }).cells[899]!.id).toBe('c900');
  });

  test('shards partition the runs', () => {
    const runs = expandMatrix(scenario({ axes: { A: ['1', '2', '3'] }, repetitions: 3 })).runs;
    const parts = [1, 2, 3, 4].map((k) => selectShard(runs, `${k}/4`));
    expect(parts.flat().map((r) => r.id).sort()).toEqual(runs.map((r) => r.id).sort());
    expect(() => selectShard(runs, '5/4')).toThrow(/--shard 5\/4/);
  });

  test('property: full factorial has product-many distinct cells, every value used', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 4 }), fc.integer({ min: 1, max: 3 }), (sizes, reps) => {
        const axes = Object.fromEntries(sizes.map((n, i) => [`A${i}`, Array.from({ length: n }, (_, j) => `v${j}`)]));
        const m = expandMatrix(scenario({ axes, repetitions: reps }), { yes: true });
        const product = sizes.reduce((a, b) => a * b, 1);
        expect(m.cells).toHaveLength(product);
        expect(new Set(m.cells.map((c) => JSON.stringify(c.values))).size).toBe(product);
        expect(new Set(m.runs.map((r) => r.id)).size).toBe(product * reps);
      }),
    );
  });
});
