import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CODE_POINT_CLASSES, FINDING_CLASSES, FINDING_CLASS_INFO, NEVER_EXPECTED } from '../src/diff/finding-classes.js';
import { FindingClass } from '../src/diff/findings-schema.js';
import { renderHtml } from '../src/report/html.js';
import { axisCondition, groupCondition, variantConditions } from '../src/report/wording.js';
import type { Findings, Group } from '../src/diff/findings-schema.js';

describe('FINDING_CLASS_INFO', () => {
  it('the schema accepts exactly the classes of the table', () => {
    expect(Object.keys(FINDING_CLASS_INFO).sort()).toEqual([...FINDING_CLASSES].sort());
    for (const c of FINDING_CLASSES) expect(FindingClass.safeParse(c).success).toBe(true);
    expect(FindingClass.safeParse('typo').success).toBe(false);
  });

  it('docs/findings.md lists every class, in report order', () => {
    const doc = readFileSync(new URL('../docs/findings.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('## Classes'));
    const listed = [...section.matchAll(/^\d+\. \*\*`([a-z-]+)`\*\*/gm)].map((m) => m[1]);
    expect(listed).toEqual([...FINDING_CLASSES]);
  });

  it('what a rule cannot excuse is covert, and the covert classes come first', () => {
    for (const c of NEVER_EXPECTED) expect(CODE_POINT_CLASSES.has(c)).toBe(true);
    expect([...NEVER_EXPECTED]).toEqual(['invisible', 'confusable', 'whitespace-lookalike']);
    const firstOvert = FINDING_CLASSES.findIndex((c) => !FINDING_CLASS_INFO[c].codePoint);
    expect(FINDING_CLASSES.slice(firstOvert).some((c) => FINDING_CLASS_INFO[c].codePoint)).toBe(false);
  });

  it('the HTML report styles a badge for every class', () => {
    const empty = {
      v: 1,
      findings: [],
      summary: { counts: { total: 0, occurrences: 0, byClass: {} }, runs: { compared: 0, total: 0 }, cells: [], repetitions: { min: 1, max: 1 },
        alignedRequests: 0, fieldsCompared: 0, noise: { notes: [] }, runsFailed: [], warnings: [], unicode: { properties: '', names: '', confusables: '' } },
      tool: { name: 'promptdiff', version: '0' },
      generatedAt: '',
      runDir: '',
    } as unknown as Findings;
    const html = renderHtml(empty);
    for (const c of FINDING_CLASSES) expect(html).toContain(`.cls-${c}{${FINDING_CLASS_INFO[c].css}}`);
  });
});

describe('wording of a variant', () => {
  const g = (values: Record<string, string[]>, cells: string[], baseline = false) => ({ values, cells, baseline }) as unknown as Group;
  it('names the axes\' values, or the cells when no axis determines the change', () => {
    expect(axisCondition({ TZ: ['UTC', 'Asia/Tokyo'], LANG: ['C'] }, ['TZ', 'LANG'])).toBe('TZ ∈ {UTC, Asia/Tokyo} ∧ LANG ∈ {C}');
    expect(axisCondition({}, ['TZ'])).toBe('TZ ∈ {}');
    expect(groupCondition(g({ TZ: ['UTC'] }, ['c1', 'c2']), [])).toBe('cells {c1, c2}');
    expect(variantConditions([g({ TZ: ['a'] }, ['c1'], true), g({ TZ: ['b'] }, ['c2']), g({ TZ: ['c'] }, ['c3'])], ['TZ'])).toBe('TZ ∈ {b} or TZ ∈ {c}');
  });
});
