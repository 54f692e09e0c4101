import { createHash } from 'node:crypto';
import { attribute, type CellVariant } from './attribute.js';
import { alignValues } from './variants.js';

/** The experimental design as the differ needs it. */
export interface Design {
  axes: string[];
  /** cellId → axis values, in manifest order */
  cells: Map<string, Record<string, string>>;
  /** runId → cellId, for the runs being compared */
  runCell: Map<string, string>;
  /** The strings by which an axis value can show up in traffic (default: needlesOf the value). */
  needles?: (axis: string, value: string) => string[];
}

/** A span stable inside every cell that differs between cells: a finding candidate. */
export interface Span {
  /** Offsets in the reference value. */
  start: number;
  end: number;
  /** Per distinct value: where the span lies in it. */
  slices: Array<[number, number]>;
  /** cellId → the span's text in that cell */
  byCell: Map<string, string>;
}

export interface FieldAnalysis {
  /** Distinct values of the field, and the runs holding each. */
  values: string[];
  runsOfValue: string[][];
  refIndex: number;
  spans: Span[];
  /** Regions that varied between runs of one cell and were masked. */
  masked: number;
}

interface Marked {
  start: number;
  end: number;
  slices: Array<[number, number]>;
  /** null: noise (or no variation) */
  byCell: Map<string, string> | null;
}

/**
 * V8 hashes long strings by length only, so a Map keyed by 100 KB prompts of equal length
 * degrades to comparing whole strings pairwise. Key by a content digest instead, and compare
 * strings only when digests match.
 */
function distinctValues(valuesByRun: Map<string, string>): { values: string[]; runsOfValue: string[][] } {
  const index = new Map<string, number[]>();
  const values: string[] = [];
  const runsOfValue: string[][] = [];
  for (const [run, value] of valuesByRun) {
    const key = value.length < 1024 ? value : createHash('sha1').update(value).digest('base64');
    const candidates = index.get(key) ?? [];
    let i = candidates.find((c) => values[c] === value);
    if (i === undefined) {
      i = values.length;
      candidates.push(i);
      index.set(key, candidates);
      values.push(value);
      runsOfValue.push([]);
    }
    runsOfValue[i]!.push(run);
  }
  return { values, runsOfValue };
}

/** Gap (code units) across which two same-cause changes still read as one span. */
const MERGE_GAP = 80;

/**
 * Splits the field's variation into noise (varies within a cell: masked where it happens, and
 * nowhere else) and spans that are stable in each cell but differ across cells. Masking is per
 * region of a code-point diff, so a uuid cannot hide a swapped character beside it.
 */
export function analyseField(valuesByRun: Map<string, string>, design: Design): FieldAnalysis | null {
  const { values, runsOfValue } = distinctValues(valuesByRun);
  if (values.length < 2) return null;
  let refIndex = 0;
  runsOfValue.forEach((r, i) => {
    if (r.length > runsOfValue[refIndex]!.length) refIndex = i;
  });
  const cellsOfValue = runsOfValue.map((runs) => [...new Set(runs.map((r) => design.runCell.get(r)!))]);

  const regions = alignValues(values, refIndex);
  const marked: Marked[] = regions.map((r) => {
    const perCell = new Map<string, string>();
    let noise = false;
    values.forEach((v, vi) => {
      const [s, e] = r.slices[vi]!;
      const text = v.slice(s, e);
      for (const cell of cellsOfValue[vi]!) {
        const prev = perCell.get(cell);
        if (prev === undefined) perCell.set(cell, text);
        else if (prev !== text) noise = true;
      }
    });
    const varies = new Set(perCell.values()).size > 1;
    return { start: r.start, end: r.end, slices: r.slices, byCell: !noise && varies ? perCell : null };
  });
  maskTouchingNoise(marked);
  absorbNumericNoise(marked, values, refIndex);
  const masked = marked.filter((m) => m.byCell === null).length;
  return { values, runsOfValue, refIndex, spans: mergeSpans(marked, values, cellsOfValue, refIndex, design), masked };
}

/**
 * Regions that touch form one stretch of changed text; when part of it is noise (a uuid), all of
 * it is: a touching piece that happens to look stable per cell is the noise's own edge, split
 * off by the diff. Stretches without noise keep their pieces apart, each with its own cause.
 */
function maskTouchingNoise(marked: Marked[]): void {
  let from = 0;
  for (let i = 1; i <= marked.length; i++) {
    if (i < marked.length && marked[i]!.start === marked[i - 1]!.end) continue;
    const stretch = marked.slice(from, i);
    if (stretch.length > 1 && stretch.some((m) => m.byCell === null)) for (const m of stretch) m.byCell = null;
    from = i;
  }
}

/**
 * Two shapes of machine-made ids whose pieces a diff splits apart: numbers and timestamps (digits,
 * joined by the punctuation of a date or a time: 2026-07-01T12:00:08.150Z) and hexadecimal ids
 * (uuids, hashes: hex digits joined by hyphens). Words are neither: a hostname beside a noisy
 * port stays a change of its own.
 */
const ID_SHAPES = [
  { piece: /^[0-9]*$/, glue: /^[0-9.:T-]{0,8}$/ },
  { piece: /^[0-9a-fA-F-]*$/, glue: /^[0-9a-fA-F-]{0,8}$/ },
];

/**
 * An id or number whose characters vary within a cell is noise as a whole. Runs of one cell run
 * together (in parallel, one after the other), so the high digits of a timestamp or a process id
 * often agree within each cell and differ across cells, stable per cell only because of when the
 * cell ran; and a uuid's diff splits into single characters, some of which agree within each
 * cell by chance. A change shaped like an id, joined by that shape's glue to noise of the same
 * shape, is masked with it; anything else (a homoglyph, an invisible character, punctuation, a
 * word) still stands, wherever it sits.
 */
function absorbNumericNoise(marked: Marked[], values: string[], refIndex: number): void {
  const ref = values[refIndex]!;
  for (const shape of ID_SHAPES) {
    const fits = marked.map((m) => values.every((v, vi) => shape.piece.test(v.slice(m.slices[vi]![0], m.slices[vi]![1]))));
    const joined = (a: number, b: number) => shape.glue.test(ref.slice(marked[a]!.end, marked[b]!.start));
    for (let changed = true; changed; ) {
      changed = false;
      for (let i = 0; i < marked.length; i++) {
        if (marked[i]!.byCell === null || !fits[i]) continue;
        const noisyNeighbour =
          (i > 0 && marked[i - 1]!.byCell === null && fits[i - 1] && joined(i - 1, i)) ||
          (i + 1 < marked.length && marked[i + 1]!.byCell === null && fits[i + 1] && joined(i, i + 1));
        if (noisyNeighbour) {
          marked[i]!.byCell = null;
          changed = true;
        }
      }
    }
  }
}

function partitionKey(byCell: Map<string, string>, cellOrder: string[]): string {
  const ids = new Map<string, number>();
  return cellOrder
    .filter((c) => byCell.has(c))
    .map((c) => {
      const v = byCell.get(c)!;
      if (!ids.has(v)) ids.set(v, ids.size);
      return ids.get(v);
    })
    .join(',');
}

function cellVariants(byCell: Map<string, string>, design: Design): CellVariant[] {
  return [...byCell].map(([cell, variant]) => ({ cell, values: design.cells.get(cell) ?? {}, variant }));
}

/**
 * Neighbouring candidate regions become one span when they share a cause: the same split of
 * cells (several homoglyphs in one sentence), or the same axes inside one token (a TZ name whose
 * letters partly align). Changes with different causes stay apart even inside one sentence, and
 * nothing merges across masked noise.
 */
function mergeSpans(
  marked: Marked[],
  values: string[],
  cellsOfValue: string[][],
  refIndex: number,
  design: Design,
): Span[] {
  const cellOrder = [...design.cells.keys()];
  const ref = values[refIndex]!;
  const spans: Array<Span & { key: string; axes: string }> = [];
  let noiseSinceLast = false;
  for (const m of marked) {
    if (!m.byCell) {
      noiseSinceLast = true;
      continue;
    }
    const key = partitionKey(m.byCell, cellOrder);
    const axes = attribute(design.axes, cellVariants(m.byCell, design)).axes.join('\u0000');
    const last = spans[spans.length - 1];
    if (last && !noiseSinceLast) {
      // The gap lies outside every region, so it is the same text in every value.
      const gap = ref.slice(last.end, m.start);
      const near = gap.length <= MERGE_GAP && !gap.includes('\n');
      if (near && (key === last.key || (!/\s/u.test(gap) && axes === last.axes))) {
        last.end = m.end;
        last.slices = last.slices.map((s, vi) => [s[0], m.slices[vi]![1]]);
        last.byCell = textByCell(last.slices, values, cellsOfValue);
        last.key = partitionKey(last.byCell, cellOrder);
        last.axes = attribute(design.axes, cellVariants(last.byCell, design)).axes.join('\u0000');
        continue;
      }
    }
    spans.push({ start: m.start, end: m.end, slices: [...m.slices], byCell: m.byCell, key, axes });
    noiseSinceLast = false;
  }
  return spans.map((s) => ({ start: s.start, end: s.end, slices: s.slices, byCell: s.byCell }));
}

function textByCell(slices: Array<[number, number]>, values: string[], cellsOfValue: string[][]): Map<string, string> {
  const out = new Map<string, string>();
  values.forEach((v, vi) => {
    const [s, e] = slices[vi]!;
    for (const cell of cellsOfValue[vi]!) out.set(cell, v.slice(s, e));
  });
  return out;
}
