import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { diffRunDir } from '../src/diff/index.js';
import { editRegions } from '../src/diff/regions.js';
import { alignValues } from '../src/diff/variants.js';
import { maxWeightAssignment } from '../src/diff/align.js';
import { makeRunDir, removeRunDirs } from './fixtures/diff/make-run.js';

afterAll(removeRunDirs);

/** Latin letters and the Cyrillic letters that look the same. */
const HOMOGLYPHS: Record<string, string> = {
  a: '\u0430',
  c: '\u0441',
  e: '\u0435',
  o: '\u043E',
  p: '\u0440',
  x: '\u0445',
  y: '\u0443',
};

const axesArb = fc
  .integer({ min: 1, max: 3 })
  .chain((n) =>
    fc.tuple(...Array.from({ length: n }, () => fc.integer({ min: 2, max: 3 }))).map((sizes) => {
      const axes: Record<string, string[]> = {};
      sizes.forEach((size, i) => {
        const name = ['TZ', 'LANG', 'HOST'][i]!;
        axes[name] = Array.from({ length: size }, (_, v) => `${name}${v}`);
      });
      return axes;
    }),
  );

const textArb = fc.string({ unit: fc.constantFrom(...'acdeghilmnoprstuxy  .,'), minLength: 20, maxLength: 400 });

describe('differ properties', () => {
  it('identical runs give no findings', async () => {
    await fc.assert(
      fc.asyncProperty(axesArb, fc.integer({ min: 1, max: 3 }), fc.string({ unit: 'binary', maxLength: 300 }), async (axes, reps, text) => {
        const dir = await makeRunDir({ axes, reps, exchanges: () => [{ system: [text], user: text }] });
        const f = await diffRunDir(dir);
        expect(f.findings).toEqual([]);
      }),
      { numRuns: 25 },
    );
  });

  it('noise alone (a uuid at a random place in every run) gives no findings', async () => {
    await fc.assert(
      fc.asyncProperty(axesArb, fc.integer({ min: 2, max: 3 }), textArb, fc.integer({ min: 1, max: 1_000_000 }), async (axes, reps, text, seed) => {
        let state = seed;
        const rand = (n: number): number => {
          state = (state * 1103515245 + 12345) % 2147483648;
          return state % n;
        };
        const dir = await makeRunDir({
          axes,
          reps,
          exchanges: () => {
            const at = rand(text.length + 1);
            return [{ system: [`${text.slice(0, at)}${randomUUID()}${text.slice(at)}`], headers: [['x-request-id', randomUUID()]] }];
          },
        });
        const f = await diffRunDir(dir);
        expect(f.findings).toEqual([]);
      }),
      { numRuns: 25 },
    );
  });

  it('a change planted in one axis’s cells is exactly one finding, attributed to that axis, at the right code point', async () => {
    const planted = fc
      .record({
        axes: axesArb,
        text: textArb.filter((t) => /[aceopxy]/.test(t)),
        kind: fc.constantFrom('homoglyph', 'zwsp'),
        pick: fc.nat(),
        axisPick: fc.nat(),
        valuePick: fc.nat(),
        noisy: fc.boolean(),
      })
      .map((p) => {
        const axisNames = Object.keys(p.axes);
        const axis = axisNames[p.axisPick % axisNames.length]!;
        const values = p.axes[axis]!;
        const trigger = values[p.valuePick % values.length]!;
        const candidates = [...p.text].flatMap((ch, i) => (p.kind === 'zwsp' || ch in HOMOGLYPHS ? [i] : []));
        const at = candidates[p.pick % candidates.length]!;
        return { ...p, axis, trigger, at };
      });
    await fc.assert(
      fc.asyncProperty(planted, async (p) => {
        const prefix = 'Session: ';
        const plantedText =
          p.kind === 'zwsp'
            ? `${p.text.slice(0, p.at)}\u200B${p.text.slice(p.at)}`
            : `${p.text.slice(0, p.at)}${HOMOGLYPHS[p.text[p.at]!]}${p.text.slice(p.at + 1)}`;
        const dir = await makeRunDir({
          axes: p.axes,
          reps: 2,
          exchanges: (cell) => {
            // A fixed run between the uuid and the text: a uuid's hex digits could otherwise align with
            // a planted letter beside it, and no differ can tell which side such a letter belongs to.
            const noise = p.noisy ? `${randomUUID()}\n---\n` : 'fixed\n';
            const body = cell.values[p.axis] === p.trigger ? plantedText : p.text;
            return [{ system: [`${prefix}${noise}${body}`] }];
          },
        });
        const f = await diffRunDir(dir);
        expect(f.findings).toHaveLength(1);
        const finding = f.findings[0]!;
        expect(finding.attribution.axes).toEqual([p.axis]);
        expect(finding.class).toBe(p.kind === 'zwsp' ? 'invisible' : 'confusable');
        const plantedGroup = finding.attribution.groups.find((g) => g.values[p.axis]!.includes(p.trigger))!;
        expect(plantedGroup.values[p.axis]).toEqual([p.trigger]);
        const other = finding.attribution.groups.find((g) => g !== plantedGroup)!;
        const expectedCp = p.kind === 'zwsp' ? 'U+200B' : `U+${HOMOGLYPHS[p.text[p.at]!]!.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
        const offset = prefix.length + (p.noisy ? 41 : 6) + p.at;
        // The baseline is the larger group; the planted code point is added or removed depending on which side it is.
        const changes = plantedGroup.baseline ? other.changes : plantedGroup.changes;
        expect(changes).toHaveLength(1);
        const c = changes[0]!;
        if (plantedGroup.baseline) {
          expect(c.removed.map((x) => x.cp)).toEqual([expectedCp]);
          expect(c.offsetBefore).toBe(offset);
        } else {
          expect(c.added.map((x) => x.cp)).toEqual([expectedCp]);
          expect(c.offsetAfter).toBe(offset);
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('edit regions', () => {
  const apply = (ref: string, edits: Array<{ start: number; end: number; text: string }>): string => {
    let out = '';
    let pos = 0;
    for (const e of edits) {
      out += ref.slice(pos, e.start) + e.text;
      pos = e.end;
    }
    return out + ref.slice(pos);
  };
  // Long enough strings exercise the token path as well as the code-point path.
  const str = fc.oneof(
    fc.string({ unit: 'grapheme', maxLength: 60 }),
    fc.string({ unit: fc.constantFrom('a', 'b', ' ', '\u2019', '\u{1F600}', '\n'), maxLength: 9000 }),
  );

  it('edits applied to the reference give the other string, whole code points only', () => {
    fc.assert(
      fc.property(str, str, (a, b) => {
        const edits = editRegions(a, b);
        expect(apply(a, edits)).toBe(b);
        for (const e of edits) {
          expect(e.start).toBeLessThanOrEqual(e.end);
          expect(a.slice(e.start, e.end)).toBe(Array.from(a.slice(e.start, e.end)).join(''));
          expect(/^[\uDC00-\uDFFF]/.test(a.slice(e.start))).toBe(false);
          expect(/^[\uDC00-\uDFFF]/.test(e.text)).toBe(false);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('aligned regions rebuild every value from the reference', () => {
    fc.assert(
      fc.property(fc.array(str, { minLength: 2, maxLength: 5 }), (values) => {
        const regions = alignValues(values, 0);
        values.forEach((v, vi) => {
          let out = '';
          let pos = 0;
          for (const r of regions) {
            const [s, e] = r.slices[vi]!;
            out += values[0]!.slice(pos, r.start) + v.slice(s, e);
            pos = r.end;
          }
          expect(out + values[0]!.slice(pos)).toBe(v);
        });
      }),
      { numRuns: 100 },
    );
  });
});

describe('maxWeightAssignment', () => {
  /** The best total over every way to give min(n, m) rows distinct columns. */
  function bruteForce(n: number, m: number, w: number[][]): number {
    let best = -Infinity;
    const k = Math.min(n, m);
    const walk = (row: number, used: Set<number>, assigned: number, total: number): void => {
      if (assigned === k) {
        best = Math.max(best, total);
        return;
      }
      if (row === n || n - row < k - assigned) return;
      for (let c = 0; c < m; c++) {
        if (used.has(c)) continue;
        used.add(c);
        walk(row + 1, used, assigned + 1, total + w[row]![c]!);
        used.delete(c);
      }
      walk(row + 1, used, assigned, total);
    };
    walk(0, new Set(), 0, 0);
    return best;
  }

  it('finds an assignment as good as brute force, with distinct columns and min(n, m) rows assigned', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.array(fc.integer({ min: -50, max: 50 }), { minLength: 25, maxLength: 25 }), (n, m, flat) => {
        const w = Array.from({ length: n }, (_, i) => Array.from({ length: m }, (_, j) => flat[i * 5 + j]!));
        const got = maxWeightAssignment(n, m, (i, j) => w[i]![j]!);
        const cols = got.filter((c) => c >= 0);
        expect(cols).toHaveLength(Math.min(n, m));
        expect(new Set(cols).size).toBe(cols.length);
        const total = got.reduce((t, c, i) => (c >= 0 ? t + w[i]![c]! : t), 0);
        expect(total).toBe(bruteForce(n, m, w));
      }),
      { numRuns: 300 },
    );
  });
});
