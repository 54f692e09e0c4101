import { pathShape } from '../diff/element-path.js';
import type { Finding, Findings, Group } from '../diff/findings-schema.js';
import { minimalChanges } from '../diff/minimal.js';
import type { Outcome } from './design.js';

/**
 * What a probe cell produced at the finding's place, read from a diff of the probe cells beside
 * the anchor cells (the baseline cell and one witness per variant, which keep their repetitions):
 * the differ's noise masking decides what changed, never a byte compare of our own.
 *
 * The finding is found again by its field and by the edits that turn the baseline anchor's text
 * into each witness's text (the same code-point edits as in the original finding). A probe then
 * shows a variant when its edits include that variant's edits, even inside a longer span (a time
 * zone that also moves the date's day merges both into one span); the baseline when it leaves the
 * variants' places alone; otherwise a new variant, named by what it put there.
 */

export interface Anchors {
  baseline: { cell: string; text: string };
  variants: Array<{ cell: string; text: string }>;
}

interface Edit {
  start: number;
  end: number;
  before: string;
  after: string;
}

function editsOf(from: string, to: string): Edit[] {
  return minimalChanges({ text: from, offset: 0, cpOffset: 0 }, { text: to, offset: 0, cpOffset: 0 }).map((c) => ({
    start: c.offsetBefore,
    end: c.offsetBefore + c.before.length,
    before: c.before,
    after: c.after,
  }));
}

const key = (e: Edit, withPlace: boolean) => `${withPlace ? `${e.start}\u0000` : ''}${e.before}\u0000${e.after}`;

/** Multiset inclusion of edits. */
function includes(big: Edit[], small: Edit[], withPlace: boolean): boolean {
  const count = new Map<string, number>();
  for (const e of big) count.set(key(e, withPlace), (count.get(key(e, withPlace)) ?? 0) + 1);
  for (const e of small) {
    const k = key(e, withPlace);
    const n = count.get(k) ?? 0;
    if (n === 0) return false;
    count.set(k, n - 1);
  }
  return true;
}

function overlaps(a: Edit, b: Edit): boolean {
  if (a.start === a.end) return b.start <= a.start && a.start <= b.end;
  if (b.start === b.end) return a.start <= b.start && b.start <= a.end;
  return Math.max(a.start, b.start) < Math.min(a.end, b.end);
}

const pathKey = pathShape;

export interface Located {
  finding: Finding;
  groupOf(cell: string): Group | undefined;
  base: Group;
  /** Per anchor variant (same order): its group and its edits from the baseline anchor's text. */
  variants: Array<{ text: string; group: Group; edits: Edit[] }>;
}

/** The original finding in a diff of other cells, or null when the anchors do not show it. */
export function locate(findings: Findings, original: Finding, anchors: Anchors): Located | null {
  const originalBase = original.attribution.groups.find((g) => g.baseline)!;
  const wanted = anchors.variants.map((v) => editsOf(originalBase.text, v.text));
  const paths = new Set(original.locations.map((l) => pathKey(l.path)));
  let best: { located: Located; score: number } | null = null;
  for (const f of findings.findings) {
    if (f.span === null || !f.locations.some((l) => paths.has(pathKey(l.path)))) continue;
    const groupOf = (cell: string) => f.attribution.groups.find((g) => g.cells.includes(cell));
    const base = groupOf(anchors.baseline.cell);
    if (!base) continue;
    const variants = anchors.variants.map((v) => ({ text: v.text, group: groupOf(v.cell) }));
    if (variants.some((v) => !v.group || v.group === base)) continue;
    const edits = variants.map((v) => editsOf(base.text, v.group!.text));
    if (!edits.every((e, i) => includes(e, wanted[i]!, false))) continue;
    // Prefer the same request and the exact same edits (no span merged with a neighbour).
    const score = (f.location.exchange === original.location.exchange ? 2 : 0) + (edits.every((e, i) => e.length === wanted[i]!.length) ? 1 : 0);
    if (!best || score > best.score) {
      best = { located: { finding: f, groupOf, base, variants: variants.map((v, i) => ({ text: v.text, group: v.group!, edits: edits[i]! })) }, score };
    }
  }
  return best?.located ?? null;
}

/** A probe cell's outcome; `cell` has successful runs (the caller reports failed ones itself). */
export function outcomeOf(located: Located, cell: string, baselineText: string): Outcome {
  const g = located.groupOf(cell);
  if (!g) return { status: 'absent' };
  if (g === located.base) return { status: 'ok', variant: baselineText };
  const edits = editsOf(located.base.text, g.text);
  let match: { text: string; size: number } | null = null;
  for (const v of located.variants) {
    if (includes(edits, v.edits, true) && (!match || v.edits.length > match.size)) match = { text: v.text, size: v.edits.length };
  }
  if (match) return { status: 'ok', variant: match.text };
  const touched = edits.filter((e) => located.variants.some((v) => v.edits.some((x) => overlaps(e, x))));
  if (touched.length === 0) return { status: 'ok', variant: baselineText };
  return { status: 'ok', variant: touched.map((e) => e.after).join('') };
}
