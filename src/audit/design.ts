import type { Findings } from '../diff/findings-schema.js';
import { CODE_POINT_CLASSES } from '../diff/finding-classes.js';

/**
 * Which cells an audit runs, stage by stage. Pure functions of the factors, the profiles and the
 * findings of earlier stages, so an audit directory can be re-derived (and resumed) from its captures.
 *
 *   screen     the all-baseline cell; one cell per profile (every factor at the profile's value);
 *              each profile value alone from the baseline (one-at-a-time): main effects, and
 *              whether each profile changes anything at all
 *   fold-over  for each profile whose cell shows a change that no single factor explains: the
 *              profile with each factor put back to its baseline in turn, so the factors a
 *              combination needs are the ones whose removal makes the change go away
 *   follow-up  a full factorial over only the factors that mattered, with the values that made a
 *              difference: the differ then attributes every span to its minimal set of factors
 *   values     every other catalogue value of each factor that mattered, in a cell where its
 *              effect shows: which values trigger and which do not
 */

export interface AuditFactor {
  name: string;
  baseline: string;
  /** Every candidate value, baseline first. */
  values: string[];
}

export interface AuditProfile {
  name: string;
  /** Factor → value, only for factors of the audit. */
  values: Record<string, string>;
}

export type Cell = Record<string, string>;

export interface PlannedCell {
  values: Cell;
  /** Why the cell is in the design (a cell can serve several purposes). */
  purposes: string[];
}

export const STAGES = ['screen', 'fold-over', 'follow-up', 'values'] as const;
export type StageName = (typeof STAGES)[number];

export function baselineCell(factors: AuditFactor[]): Cell {
  return Object.fromEntries(factors.map((f) => [f.name, f.baseline]));
}

const keyOf = (cell: Cell, factors: AuditFactor[]) => JSON.stringify(factors.map((f) => cell[f.name]));

/** Adds cells to a design, merging the purposes of cells that are the same combination. */
export class CellList {
  readonly cells: PlannedCell[] = [];
  private readonly index = new Map<string, PlannedCell>();

  constructor(
    private readonly factors: AuditFactor[],
    /** Cells of earlier stages: not added again. */
    private readonly existing: Set<string> = new Set(),
  ) {}

  add(values: Cell, purpose: string): void {
    const key = keyOf(values, this.factors);
    if (this.existing.has(key)) return;
    const known = this.index.get(key);
    if (known) {
      if (!known.purposes.includes(purpose)) known.purposes.push(purpose);
      return;
    }
    const cell = { values: { ...values }, purposes: [purpose] };
    this.index.set(key, cell);
    this.cells.push(cell);
  }
}

export function cellKeys(cells: Cell[], factors: AuditFactor[]): Set<string> {
  return new Set(cells.map((c) => keyOf(c, factors)));
}

/** Values each factor is tried with one at a time: the profiles' values, or all its values. */
export function screenValues(factors: AuditFactor[], profiles: AuditProfile[], all: boolean): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of factors) {
    const fromProfiles = [...new Set(profiles.flatMap((p) => (p.values[f.name] !== undefined ? [p.values[f.name]!] : [])))].filter((v) => v !== f.baseline);
    // A factor no profile sets is still screened: with every value it has.
    out.set(f.name, all || fromProfiles.length === 0 ? f.values.filter((v) => v !== f.baseline) : fromProfiles);
  }
  return out;
}

export function profileCell(factors: AuditFactor[], profile: AuditProfile): Cell {
  return { ...baselineCell(factors), ...profile.values };
}

export function screenCells(factors: AuditFactor[], profiles: AuditProfile[], allValues: boolean): PlannedCell[] {
  const list = new CellList(factors);
  const base = baselineCell(factors);
  list.add(base, 'baseline');
  for (const p of profiles) list.add(profileCell(factors, p), `profile ${p.name}`);
  for (const [name, values] of screenValues(factors, profiles, allValues)) {
    for (const v of values) list.add({ ...base, [name]: v }, `one-at-a-time ${name}=${v}`);
  }
  return list.cells;
}

/** The cells (by id) of each finding's variant groups that differ from the finding's baseline group. */
function changedCells(findings: Findings): Array<{ finding: Findings['findings'][number]; cells: Set<string> }> {
  return findings.findings
    .filter((f) => f.class !== 'expected')
    .map((finding) => ({
      finding,
      cells: new Set(finding.attribution.groups.filter((g) => !g.baseline).flatMap((g) => g.cells)),
    }));
}

/**
 * Profiles whose own cell carries a change that no single factor explains over the screen (an
 * interaction, a confounded or an undetermined attribution): only those are folded over.
 */
export function profilesToFoldOver(findings: Findings, profileCellIds: Map<string, string>): string[] {
  const out = new Set<string>();
  for (const { finding, cells } of changedCells(findings)) {
    const a = finding.attribution;
    const single = a.determined && !a.interaction && a.confounded.length === 0;
    if (single) continue;
    for (const [profile, cellId] of profileCellIds) if (cells.has(cellId)) out.add(profile);
  }
  return [...out];
}

export function foldOverCells(factors: AuditFactor[], profiles: AuditProfile[], existing: Set<string>): PlannedCell[] {
  const list = new CellList(factors, existing);
  for (const p of profiles) {
    const all = profileCell(factors, p);
    for (const name of Object.keys(p.values)) {
      const f = factors.find((x) => x.name === name);
      if (f && all[name] !== f.baseline) list.add({ ...all, [name]: f.baseline }, `fold-over ${p.name} − ${name}`);
    }
  }
  return list.cells;
}

export interface Mattered {
  factor: string;
  /** Ids of the findings attributed to it (alone, in an interaction, or among confounded sets). */
  findings: string[];
  classes: string[];
  /** Values of the factor in cells where a change showed. */
  triggering: string[];
  /** Other factors it is attributed together with. */
  with: string[];
  /** Some change it drives is covert (a code-point class) or needs another factor too. */
  covert: boolean;
  /** Values of the factor in cells where such a change showed. */
  covertTriggering: string[];
}

/** Classes whose change hides in the bytes: what an audit characterises further. */
export const COVERT_CLASSES: ReadonlySet<string> = CODE_POINT_CLASSES;

/**
 * The factors that mattered: every factor a finding (other than expected variation) is attributed
 * to, with the values it had where the change showed.
 */
export function matteredFactors(findings: Findings, cellValues: Map<string, Cell>, factorNames: string[]): Mattered[] {
  const by = new Map<string, Mattered>();
  for (const { finding, cells } of changedCells(findings)) {
    const a = finding.attribution;
    const sets = [a.axes, ...a.confounded].filter((s) => s.length > 0);
    for (const set of sets) {
      for (const name of set) {
        if (!factorNames.includes(name)) continue;
        const m = by.get(name) ?? { factor: name, findings: [], classes: [], triggering: [], with: [], covert: false, covertTriggering: [] };
        const covert = COVERT_CLASSES.has(finding.class) || set.length > 1;
        if (!m.findings.includes(finding.id)) m.findings.push(finding.id);
        if (!m.classes.includes(finding.class)) m.classes.push(finding.class);
        for (const other of set) if (other !== name && !m.with.includes(other)) m.with.push(other);
        m.covert ||= covert;
        for (const id of cells) {
          const v = cellValues.get(id)?.[name];
          if (v === undefined) continue;
          if (!m.triggering.includes(v)) m.triggering.push(v);
          if (covert && !m.covertTriggering.includes(v)) m.covertTriggering.push(v);
        }
        by.set(name, m);
      }
    }
  }
  return factorNames.filter((n) => by.has(n)).map((n) => by.get(n)!);
}

/** Values of a crossed factor in the follow-up: its baseline and the values that made a covert difference. */
export function followUpValues(factors: AuditFactor[], mattered: Mattered[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of mattered) {
    const f = factors.find((x) => x.name === m.factor)!;
    out.set(m.factor, [f.baseline, ...f.values.filter((v) => v !== f.baseline && m.covertTriggering.includes(v))]);
  }
  return out;
}

export function factorialSize(values: Map<string, string[]>): number {
  return [...values.values()].reduce((n, v) => n * v.length, 1);
}

/** Past this many cells the follow-up covers every pair of values instead of every combination. */
export const FULL_FACTORIAL_MAX_CELLS = 36;

/**
 * The full factorial over the crossed factors (the others at baseline) when it is small; otherwise
 * a covering array of strength two: cells in which every pair of values of every two crossed
 * factors occurs at least once, so every two-factor interaction is seen, in far fewer cells than
 * crossing the pairs one by one (17 two-valued factors: 136 pairs, about a dozen cells).
 */
export function followUpCells(factors: AuditFactor[], values: Map<string, string[]>, existing: Set<string>): { cells: PlannedCell[]; design: 'full' | 'pairwise' } {
  const list = new CellList(factors, existing);
  const base = baselineCell(factors);
  if (factorialSize(values) <= FULL_FACTORIAL_MAX_CELLS) {
    let combos: Cell[] = [base];
    for (const [name, vs] of values) combos = combos.flatMap((c) => vs.map((v) => ({ ...c, [name]: v })));
    for (const c of combos) list.add(c, 'follow-up');
    return { cells: list.cells, design: 'full' };
  }
  for (const c of coveringArray(values, base)) list.add(c, 'follow-up (pairwise)');
  return { cells: list.cells, design: 'pairwise' };
}

/** A small deterministic generator (a linear congruential one): the design must be the same every time. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/**
 * Greedy strength-2 covering array (in the manner of AETG): each new cell is the best of a few
 * candidates; a candidate starts from one pair not yet covered, then gives every other factor, in
 * a shuffled order, the value that covers the most uncovered pairs with the values chosen so far
 * (ties: the first value, the baseline). Every cell covers at least its starting pair, so it ends.
 */
export function coveringArray(values: Map<string, string[]>, base: Cell, candidates = 24): Cell[] {
  const names = [...values.keys()];
  const vals = names.map((n) => values.get(n)!);
  const key = (f: number, a: string, g: number, b: string) => (f < g ? `${f}\u0000${a}\u0001${g}\u0000${b}` : `${g}\u0000${b}\u0001${f}\u0000${a}`);
  const uncovered: string[] = [];
  const pairOf = new Map<string, [number, string, number, string]>();
  for (let f = 0; f < names.length; f++) {
    for (let g = f + 1; g < names.length; g++) {
      for (const a of vals[f]!) {
        for (const b of vals[g]!) {
          const k = key(f, a, g, b);
          uncovered.push(k);
          pairOf.set(k, [f, a, g, b]);
        }
      }
    }
  }
  const open = new Set(uncovered);
  const rand = seeded(0x5eed);
  const cells: Cell[] = [];
  while (open.size > 0) {
    const pending = [...open];
    let best: { cell: Map<number, string>; covers: Set<string> } | null = null;
    for (let t = 0; t < candidates; t++) {
      const [f0, a0, g0, b0] = pairOf.get(pending[Math.floor(rand() * pending.length)]!)!;
      const cell = new Map<number, string>([
        [f0, a0],
        [g0, b0],
      ]);
      const order = names.map((_, i) => i).filter((i) => i !== f0 && i !== g0);
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      for (const f of order) {
        let choice = vals[f]![0]!;
        let gain = -1;
        for (const v of vals[f]!) {
          let here = 0;
          for (const [g, b] of cell) if (open.has(key(f, v, g, b))) here++;
          if (here > gain) {
            choice = v;
            gain = here;
          }
        }
        cell.set(f, choice);
      }
      const covers = new Set<string>();
      const chosen = [...cell];
      for (let i = 0; i < chosen.length; i++) {
        for (let j = i + 1; j < chosen.length; j++) {
          const k = key(chosen[i]![0], chosen[i]![1], chosen[j]![0], chosen[j]![1]);
          if (open.has(k)) covers.add(k);
        }
      }
      if (!best || covers.size > best.covers.size) best = { cell, covers };
    }
    for (const k of best!.covers) open.delete(k);
    cells.push({ ...base, ...Object.fromEntries([...best!.cell].map(([f, v]) => [names[f]!, v])) });
  }
  return cells;
}

/**
 * Of the factors that mattered, those the follow-up crosses and the values stage characterises:
 * the ones driving a covert change or one that needs another factor. An overt dependency (an echo
 * of the home directory, a Host header) is attributed by the screen already and reported as such.
 */
export function factorsToCross(mattered: Mattered[]): Mattered[] {
  return mattered.filter((m) => m.covert);
}

/**
 * Every catalogue value of each crossed factor not tried yet, each in a witness cell: a cell of
 * the design where that factor's change showed, with the factor set to the new value.
 */
export function valueCells(factors: AuditFactor[], mattered: Mattered[], witness: (factor: string) => Cell | null, tried: Map<string, Set<string>>, existing: Set<string>): PlannedCell[] {
  const list = new CellList(factors, existing);
  for (const m of mattered) {
    const f = factors.find((x) => x.name === m.factor)!;
    const cell = witness(m.factor);
    if (!cell) continue;
    for (const v of f.values) if (!tried.get(f.name)?.has(v)) list.add({ ...cell, [f.name]: v }, `values ${f.name}=${v}`);
  }
  return list.cells;
}
