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
 * common regions. Touching edits merge (an insertion at a region's edge belongs to it), so each
 * value's edits fall wholly inside exactly one region and the mapping below is exact.
 */
export function alignValues(values: string[], refIndex: number): Region[] {
  const ref = values[refIndex]!;
  const editsPer: Edit[][] = values.map((v, i) => (i === refIndex ? [] : editRegions(ref, v)));
  const all = editsPer.flat().sort((x, y) => x.start - y.start || x.end - y.end);
  const merged: Array<{ start: number; end: number }> = [];
  for (const e of all) {
    const last = merged[merged.length - 1];
    if (last && e.start <= last.end) last.end = Math.max(last.end, e.end);
    else merged.push({ start: e.start, end: e.end });
  }
  const regions: Region[] = merged.map((m) => ({ start: m.start, end: m.end, slices: [] }));
  editsPer.forEach((edits, vi) => {
    let delta = 0;
    let k = 0;
    for (const r of regions) {
      const vStart = r.start + delta;
      while (k < edits.length && edits[k]!.start <= r.end && edits[k]!.start >= r.start) {
        const e = edits[k]!;
        delta += e.text.length - (e.end - e.start);
        k++;
      }
      r.slices[vi] = [vStart, r.end + delta];
    }
  });
  return regions;
}
