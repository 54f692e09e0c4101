import { nameSegment } from './element-path.js';
import type { ArrayShape, Fields } from './flatten.js';

/*
 * Array elements are flattened by index, so one element more at the front of an array (a tool, a
 * reminder message) in some cells shifts every later element and every field under it: the
 * comparison then pairs different elements and reports their differences as changes driven by
 * whatever added the element. Before fields are compared, the arrays of one aligned request are
 * aligned across its runs, and every field is renamed so the same logical element has the same
 * path in every run:
 *
 * - arrays of the same length whose elements agree at each index in JSON type, `role`, `type` and
 *   name are left by index: nothing shifts, nothing is renamed;
 * - otherwise, an array whose elements are all named objects, each name once per run (tools:
 *   Anthropic `name`, OpenAI `function.name`, Gemini `functionDeclarations[].name`), is matched
 *   by name and its elements named `[name=X]`; the names in order become a field `<array>{keys}`,
 *   so a reordering is still compared (like an object's key order);
 * - any other array is matched by an order-keeping alignment (weighted LCS) on a cheap signature
 *   of each element (kind, name, opening and closing text, size); each run is matched against the
 *   union of the runs before it, in manifest order, and elements are numbered by their position in
 *   that union. An element only some runs have gets a number of its own, so its fields are absent
 *   in the other runs: one presence change, not value changes of its neighbours.
 *
 * Then the same is done inside each matched element, for the arrays it holds.
 */

interface Member {
  run: string;
  array: ArrayShape;
  /** The array's path once its ancestors are renamed. */
  path: string;
}

/** The fields [start, end) of one run: their first `oldLength` characters become `prefix`. */
interface Rename {
  start: number;
  end: number;
  oldLength: number;
  prefix: string;
}

interface Edits {
  renames: Rename[];
  /** Fields to add (an array's `{keys}`), before the field at position `at`. */
  inserts: Array<{ at: number; path: string; value: string }>;
}

/** A cheap summary of one element, for telling which elements of two runs are the same one. */
interface Signature {
  kind: string;
  name: string | null;
  head: string;
  tail: string;
  size: number;
  keys: string;
}

const HEAD = 64;
const TAIL = 32;
/** Past this many (elements × union elements) per run, an unnamed array is matched by position: the LCS is quadratic. */
const MAX_LCS_CELLS = 1_000_000;

class ElementAligner {
  readonly edits = new Map<string, Edits>();
  private readonly entries = new Map<string, Array<[string, string]>>();

  constructor(private readonly runs: Map<string, Fields>) {}

  /** The run's fields in order (built once, only for runs whose arrays need a signature). */
  entriesOf(run: string): Array<[string, string]> {
    let e = this.entries.get(run);
    if (!e) {
      e = [...this.runs.get(run)!];
      this.entries.set(run, e);
    }
    return e;
  }

  private editsOf(run: string): Edits {
    let e = this.edits.get(run);
    if (!e) {
      e = { renames: [], inserts: [] };
      this.edits.set(run, e);
    }
    return e;
  }

  align(members: Member[]): void {
    if (members.length < 2) return;
    const first = members[0]!.array.elements;
    const sameShape = members.every(
      (m) =>
        m.array.elements.length === first.length &&
        m.array.elements.every((el, i) => el.kind === first[i]!.kind && el.name === first[i]!.name),
    );
    /** Per union element: its segment, and each run's element (member index → element index). */
    let union: Array<{ segment: string; at: Map<number, number> }>;
    if (sameShape) {
      union = first.map((_, i) => ({ segment: `[${i}]`, at: new Map(members.map((_, mi) => [mi, i])) }));
    } else if (members.every((m) => isKeyed(m.array))) {
      union = this.byName(members);
    } else {
      union = this.bySignature(members);
    }
    for (const slot of union) {
      const children = new Map<string, Member[]>();
      for (const [mi, ei] of slot.at) {
        const m = members[mi]!;
        const el = m.array.elements[ei]!;
        const oldPrefix = `${m.array.path}[${ei}]`;
        const prefix = `${m.path}${slot.segment}`;
        if (prefix !== oldPrefix) this.editsOf(m.run).renames.push({ start: el.start, end: el.end, oldLength: oldPrefix.length, prefix });
        for (const inner of el.arrays) {
          const rel = inner.path.slice(oldPrefix.length);
          const list = children.get(rel) ?? [];
          list.push({ run: m.run, array: inner, path: `${prefix}${rel}` });
          children.set(rel, list);
        }
      }
      for (const list of children.values()) this.align(list);
    }
  }

  /** Named elements meet by name; the union keeps the order they were first seen in. */
  private byName(members: Member[]): Array<{ segment: string; at: Map<number, number> }> {
    let union: Array<{ name: string; at: Map<number, number> }> = [];
    members.forEach((m, mi) => {
      const names = m.array.elements.map((el) => el.name!);
      this.editsOf(m.run).inserts.push({ at: m.array.at, path: `${m.path}{keys}`, value: names.join(',') });
      const index = new Map(union.map((u, i) => [u.name, i]));
      // A name not seen before goes right after this run's previous element (-1: first).
      const added = new Map<number, Array<{ name: string; at: Map<number, number> }>>();
      let after = -1;
      names.forEach((name, ei) => {
        const u = index.get(name);
        if (u !== undefined) {
          union[u]!.at.set(mi, ei);
          after = u;
          return;
        }
        const list = added.get(after) ?? [];
        list.push({ name, at: new Map([[mi, ei]]) });
        added.set(after, list);
      });
      if (added.size === 0) return;
      const out = [...(added.get(-1) ?? [])];
      union.forEach((u, i) => out.push(u, ...(added.get(i) ?? [])));
      union = out;
    });
    return union.map((u) => ({ segment: nameSegment(u.name), at: u.at }));
  }

  /** Unnamed elements meet by an order-keeping alignment against the union of the runs before. */
  private bySignature(members: Member[]): Array<{ segment: string; at: Map<number, number> }> {
    let union: Array<{ sig: Signature; at: Map<number, number> }> = [];
    members.forEach((m, mi) => {
      const sigs = m.array.elements.map((_, ei) => this.signature(m, ei));
      if (union.length === 0) {
        union = sigs.map((sig, ei) => ({ sig, at: new Map([[mi, ei]]) }));
        return;
      }
      const pairs = sigs.length * union.length > MAX_LCS_CELLS ? byPosition(sigs.length, union.length) : lcs(sigs, union.map((u) => u.sig));
      const out: typeof union = [];
      let j = 0;
      for (const [ei, uj] of pairs) {
        if (uj === null) {
          out.push({ sig: sigs[ei]!, at: new Map([[mi, ei]]) });
          continue;
        }
        while (j < uj) out.push(union[j++]!);
        union[uj]!.at.set(mi, ei);
        out.push(union[j++]!);
      }
      while (j < union.length) out.push(union[j++]!);
      union = out;
    });
    return union.map((u, k) => ({ segment: `[${k}]`, at: u.at }));
  }

  private signature(m: Member, ei: number): Signature {
    const el = m.array.elements[ei]!;
    const entries = this.entriesOf(m.run);
    const keysPath = `${m.array.path}[${ei}]{keys}`;
    let text = '';
    let size = 0;
    let keys = '';
    let tail = '';
    for (let p = el.start; p < el.end; p++) {
      const [path, value] = entries[p]!;
      if (path.endsWith('{keys}')) {
        if (path === keysPath) keys = value;
        continue;
      }
      size += value.length;
      if (text.length < HEAD) text += value.slice(0, HEAD - text.length);
      tail = (tail + value.slice(-TAIL)).slice(-TAIL);
    }
    return { kind: el.kind, name: el.name, head: text, tail, size, keys };
  }
}

/** Every element a named object, each name once. */
function isKeyed(array: ArrayShape): boolean {
  const names = new Set<string>();
  for (const el of array.elements) {
    if (el.name === null || !el.kind.startsWith('object') || names.has(el.name)) return false;
    names.add(el.name);
  }
  return true;
}

/** Whether two sizes are within `ratio` of each other. */
export function near(a: number, b: number, ratio: number): boolean {
  const hi = Math.max(a, b);
  return hi === 0 || Math.min(a, b) / hi >= ratio;
}

function sharedStart(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/**
 * How alike two elements are, in points; 0 when they cannot be the same element (another JSON
 * type, role, block type or name). Any two that can be score at least 1, so when nothing tells
 * elements apart the alignment pairs them in order.
 */
export function elementSimilarity(a: Signature, b: Signature): number {
  if (a.kind !== b.kind || a.name !== b.name) return 0;
  let s = 1;
  if (a.head === b.head) s += 4;
  else if (sharedStart(a.head, b.head) >= 16) s += 2;
  if (a.tail === b.tail) s += 2;
  if (near(a.size, b.size, 0.9)) s += 2;
  else if (near(a.size, b.size, 0.5)) s += 1;
  if (a.keys === b.keys) s += 1;
  return s;
}

/** Each element's partner among `n` union elements by position: [element, union index or null]. */
function byPosition(count: number, n: number): Array<[number, number | null]> {
  return Array.from({ length: count }, (_, i) => [i, i < n ? i : null]);
}

/**
 * The maximum-weight order-keeping matching of `sigs` against `ref`: for each element in order,
 * its partner's index in `ref`, or null. Among equal totals the earlier pairing wins.
 */
export function lcs(sigs: Signature[], ref: Signature[]): Array<[number, number | null]> {
  const n = sigs.length;
  const m = ref.length;
  const width = m + 1;
  const sim = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) sim[i * m + j] = elementSimilarity(sigs[i]!, ref[j]!);
  // best[i][j]: the best total aligning sigs[i..] with ref[j..].
  const best = new Float64Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      const s = sim[i * m + j]!;
      const match = s > 0 ? s + best[(i + 1) * width + j + 1]! : 0;
      best[i * width + j] = Math.max(match, best[(i + 1) * width + j]!, best[i * width + j + 1]!);
    }
  }
  const out: Array<[number, number | null]> = [];
  let i = 0;
  let j = 0;
  while (i < n) {
    if (j < m) {
      const here = best[i * width + j]!;
      const s = sim[i * m + j]!;
      if (s > 0 && s + best[(i + 1) * width + j + 1]! === here) {
        out.push([i++, j++]);
        continue;
      }
      if (best[i * width + j + 1]! === here) {
        j++;
        continue;
      }
    }
    out.push([i++, null]);
  }
  return out;
}

function rewrite(edits: Edits, entries: Array<[string, string]>): Fields {
  const target = new Array<Rename | undefined>(entries.length);
  // Outer elements are recorded before the elements inside them, which then win their own range.
  for (const r of edits.renames) for (let p = r.start; p < r.end; p++) target[p] = r;
  const inserts = [...edits.inserts].sort((a, b) => a.at - b.at);
  const out: Fields = new Map();
  let k = 0;
  entries.forEach(([path, value], p) => {
    while (k < inserts.length && inserts[k]!.at <= p) out.set(inserts[k]!.path, inserts[k++]!.value);
    const r = target[p];
    out.set(r ? r.prefix + path.slice(r.oldLength) : path, value);
  });
  while (k < inserts.length) out.set(inserts[k]!.path, inserts[k++]!.value);
  return out;
}

/**
 * The runs of one aligned request with their fields renamed so the same logical array element has
 * the same path in every run (see the top of this file). `shapeOf` gives each run's array shapes
 * as flattenExchange recorded them. Runs whose paths all stay keep their Fields object.
 */
export function alignElements(runs: Map<string, Fields>, shapeOf: (fields: Fields) => ArrayShape[] | undefined): Map<string, Fields> {
  if (runs.size < 2) return runs;
  const aligner = new ElementAligner(runs);
  const byPath = new Map<string, Member[]>();
  for (const [run, fields] of runs) {
    for (const array of shapeOf(fields) ?? []) {
      const list = byPath.get(array.path) ?? [];
      list.push({ run, array, path: array.path });
      byPath.set(array.path, list);
    }
  }
  for (const members of byPath.values()) aligner.align(members);
  if (aligner.edits.size === 0) return runs;
  const out = new Map<string, Fields>();
  for (const [run, fields] of runs) {
    const edits = aligner.edits.get(run);
    out.set(run, edits ? rewrite(edits, aligner.entriesOf(run)) : fields);
  }
  return out;
}
