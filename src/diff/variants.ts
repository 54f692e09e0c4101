import { editRegions, type Edit } from './regions.js';

/**
 * A stretch of the reference string where at least one value differs, with where that stretch
 * lies in every value. Outside regions all values are identical, so slices of different values
 * for the same region are directly comparable.
 */
export interface Region {
  /** UTF-16 offsets into the reference value. */
  start: number;
  end: number;
  /** For each value (same index as the input): [start, end) of this region in that value. */
  slices: Array<[number, number]>;
}

/**
 * Diffs every distinct value against one reference and merges the edits of all of them into
 * common regions. Overlapping edits merge, and so do touching ones when one of them is an
 * insertion at the touching point (it could belong to either side), so each value's edits fall
 * wholly inside exactly one region and the mapping below is exact. Two replacements that only
 * touch stay apart: "2026-07-01" → "2025-07-01" (the year) and → "2026/07/01" (the separator)
 * are two changes, each with its own cause.
 */
export function alignValues(values: string[], refIndex: number): Region[] {
  const ref = values[refIndex]!;
  const editsPer: Edit[][] = values.map((v, i) => (i === refIndex ? [] : editRegions(ref, v)));
  const all = editsPer.flat().sort((x, y) => x.start - y.start || x.end - y.end);
  const merged: Array<{ start: number; end: number; insertionAtEnd: boolean }> = [];
  for (const e of all) {
    const last = merged[merged.length - 1];
    const insertion = e.start === e.end;
    if (last && (e.start < last.end || (e.start === last.end && (insertion || last.insertionAtEnd)))) {
      if (e.end > last.end) last.insertionAtEnd = false;
      last.end = Math.max(last.end, e.end);
      if (insertion && e.start === last.end) last.insertionAtEnd = true;
    } else {
      merged.push({ start: e.start, end: e.end, insertionAtEnd: insertion });
    }
  }
  const regions: Region[] = merged.map((m) => ({ start: m.start, end: m.end, slices: [] }));
  editsPer.forEach((edits, vi) => {
    let delta = 0;
    let k = 0;
    for (const r of regions) {
      const vStart = r.start + delta;
      while (k < edits.length && edits[k]!.start >= r.start && edits[k]!.end <= r.end) {
        const e = edits[k]!;
        delta += e.text.length - (e.end - e.start);
        k++;
      }
      r.slices[vi] = [vStart, r.end + delta];
    }
  });
  return regions;
}
