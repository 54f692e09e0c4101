import { createHash } from 'node:crypto';
import { classifyGroup } from '../diff/classify.js';
import { pathShape } from '../diff/element-path.js';
import type { Change, CodePointInfo, Finding, FindingClass, Findings, Group } from '../diff/findings-schema.js';

/**
 * A version's findings reduced to what a release can change: which code points are edited in which
 * field, following which axis values. A fingerprint is the set of such atoms:
 *
 * - one atom per distinct edit of a byte finding (its removed and added code points, the field, the
 *   attributing axes and the values of the group that carries it). Not the finding itself: the
 *   differ merges edits that sit close together into one span (and one finding, of the most
 *   suspicious class), so a release that plants a homoglyph next to an old zero-width space turns
 *   one finding into another; as atoms, the old edit stays and only the new one appears.
 * - one atom per echo, expected variation and presence finding (axis, field, values).
 *
 * Left out, because two runs of the same release differ in them for unrelated reasons: finding ids,
 * offsets (they shift whenever text before the span grows), exchange keys, models and request counts
 * (a release that adds a call or changes its default model still carries the same channel), array
 * indices in field paths (a new system block renumbers the old ones), run and cell ids, the texts
 * themselves (dates, paths) and timestamps.
 */

/** `body.system[2].text` → `body.system[].text` (and `body.tools[name=Bash]` → `body.tools[]`). */
export const normaliseFieldPath = pathShape;

function sortedUnique(xs: Iterable<string>): string[] {
  return [...new Set(xs)].sort();
}

function sortedValues(values: Record<string, string[]>): Array<[string, string[]]> {
  return Object.keys(values)
    .sort()
    .map((axis) => [axis, sortedUnique(values[axis] ?? [])]);
}

function uniqueCodePoints(list: CodePointInfo[]): CodePointInfo[] {
  const seen = new Map<string, CodePointInfo>();
  for (const c of list) if (!seen.has(c.cp)) seen.set(c.cp, c);
  return [...seen.values()].sort((a, b) => (a.cp < b.cp ? -1 : a.cp > b.cp ? 1 : 0));
}

/** One element of a fingerprint, with what a report needs to show it. */
export interface Atom {
  /** Canonical JSON: equal keys mean the same change. */
  key: string;
  /** The change's own class (an edit judged alone), or the finding's for echo/expected/presence. */
  class: FindingClass;
  path: string;
  axes: string[];
  /** The values of the group that carries the change (axis → values). */
  values: Record<string, string[]>;
  removed: CodePointInfo[];
  added: CodePointInfo[];
}

function changeClass(c: Change, g: Group): FindingClass {
  return classifyGroup({
    changes: [c],
    baselineToken: c.before,
    token: c.after,
    context: `${g.context.before}${g.text}${g.context.after}`,
    baselineContext: `${g.context.before}${c.before}${g.context.after}`,
  });
}

export function findingAtoms(f: Finding): Atom[] {
  const path = normaliseFieldPath(f.location.path);
  const axes = [...f.attribution.axes].sort();
  const common = { path, axes, determined: f.attribution.determined };
  const whole = (kind: string, extra: Record<string, unknown>): Atom[] => {
    const groups = f.attribution.groups
      .map((g) => JSON.stringify({ values: sortedValues(g.values), ...(g.present !== undefined ? { present: g.present } : {}) }))
      .sort();
    const values = Object.fromEntries(sortedValues(f.attribution.groups.find((g) => !g.baseline)?.values ?? {}));
    return [
      {
        key: JSON.stringify({ kind, ...common, ...extra, groups }),
        class: f.class,
        path,
        axes,
        values,
        removed: [],
        added: [],
      },
    ];
  };
  if (f.class === 'request-presence' || f.class === 'field-presence') {
    return whole('presence', { class: f.class, ...(f.fields ? { fields: sortedUnique(f.fields.map(normaliseFieldPath)) } : {}) });
  }
  if (f.class === 'echo') return whole('echo', { echo: f.echo?.axis ?? null });
  if (f.class === 'expected') return whole('expected', { rule: f.expected ?? null });
  const atoms = new Map<string, Atom>();
  for (const g of f.attribution.groups) {
    if (g.baseline) continue;
    const values = Object.fromEntries(sortedValues(g.values));
    for (const c of g.changes) {
      const removed = uniqueCodePoints(c.removed);
      const added = uniqueCodePoints(c.added);
      const key = JSON.stringify({
        kind: 'edit',
        ...common,
        values: sortedValues(g.values),
        removed: removed.map((x) => x.cp),
        added: added.map((x) => x.cp),
      });
      if (!atoms.has(key)) atoms.set(key, { key, class: changeClass(c, g), path, axes, values, removed, added });
    }
  }
  // A byte finding without recorded edits still counts, as a whole.
  return atoms.size > 0 ? [...atoms.values()] : whole('bytes', { class: f.class });
}

export interface Fingerprint {
  /** Sorted, distinct atom keys. */
  signatures: string[];
  /** Short hash of the signatures, for display and quick comparison. */
  hash: string;
  /** Per atom key: the atom and the first finding (in the findings' own order) that carries it. */
  examples: Map<string, { atom: Atom; finding: Finding }>;
}

export function fingerprint(findings: Findings): Fingerprint {
  const examples = new Map<string, { atom: Atom; finding: Finding }>();
  for (const finding of findings.findings) {
    for (const atom of findingAtoms(finding)) if (!examples.has(atom.key)) examples.set(atom.key, { atom, finding });
  }
  const signatures = [...examples.keys()].sort();
  const hash = createHash('sha256').update(signatures.join('\n')).digest('hex').slice(0, 12);
  return { signatures, hash, examples };
}

/** Signatures only in `after` (appeared) and only in `before` (disappeared). */
export function compareSignatures(before: readonly string[], after: readonly string[]): { appeared: string[]; disappeared: string[] } {
  const b = new Set(before);
  const a = new Set(after);
  return { appeared: after.filter((s) => !b.has(s)), disappeared: before.filter((s) => !a.has(s)) };
}

export function sameSignatures(x: readonly string[], y: readonly string[]): boolean {
  return x.length === y.length && x.every((s, i) => s === y[i]);
}
