/** One cell's stable variant of a span (or of a presence): the input to attribution. */
export interface CellVariant {
  cell: string;
  values: Record<string, string>;
  /** Any key that is equal exactly when the variants are equal. */
  variant: string;
}

export interface AxisAttribution {
  axes: string[];
  determined: boolean;
  interaction: boolean;
  confounded: string[][];
  suggestedCells: Array<Record<string, string>>;
}

/** Past this many axes, subsets are no longer enumerated exhaustively (2^12 checks is still instant). */
const EXHAUSTIVE_AXES = 12;

function project(values: Record<string, string>, axes: string[]): string {
  return JSON.stringify(axes.map((a) => values[a] ?? null));
}

/** Does the value combination of `axes` fix the variant in every cell? (a functional dependency) */
function determines(axes: string[], cells: CellVariant[]): boolean {
  const seen = new Map<string, string>();
  for (const c of cells) {
    const key = project(c.values, axes);
    const prev = seen.get(key);
    if (prev === undefined) seen.set(key, c.variant);
    else if (prev !== c.variant) return false;
  }
  return true;
}

function subsetsOfSize(axes: string[], k: number): string[][] {
  const out: string[][] = [];
  const pick = (from: number, acc: string[]): void => {
    if (acc.length === k) {
      out.push([...acc]);
      return;
    }
    for (let i = from; i <= axes.length - (k - acc.length); i++) {
      acc.push(axes[i]!);
      pick(i + 1, acc);
      acc.pop();
    }
  };
  pick(0, []);
  return out;
}

/**
 * The smallest axis sets whose values determine the variant over the cells we have. Several sets
 * of that size mean the design moved those axes together: we cannot tell which one is the cause.
 */
export function attribute(allAxes: string[], cells: CellVariant[]): AxisAttribution {
  // Axes that take one value over these cells can explain nothing.
  const axes = allAxes.filter((a) => new Set(cells.map((c) => c.values[a])).size > 1);
  const maxK = Math.min(axes.length, EXHAUSTIVE_AXES);
  for (let k = 0; k <= maxK; k++) {
    const working = subsetsOfSize(axes, k).filter((s) => determines(s, cells));
    if (working.length === 0) continue;
    const chosen = working[0]!;
    const confounded = working.length > 1 ? working : [];
    return {
      axes: chosen,
      determined: true,
      interaction: chosen.length > 1,
      confounded,
      suggestedCells: confounded.length > 0 ? suggestCells(cells, working) : [],
    };
  }
  if (axes.length > EXHAUSTIVE_AXES && determines(axes, cells)) {
    return { axes, determined: true, interaction: true, confounded: [], suggestedCells: [] };
  }
  return { axes: [], determined: false, interaction: false, confounded: [], suggestedCells: [] };
}

/**
 * Cells not in the design where two confounded explanations predict different variants: running
 * one of them settles which axis set is the cause.
 */
function suggestCells(cells: CellVariant[], sets: string[][]): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = [];
  const seenOut = new Set<string>();
  const [first, ...rest] = sets;
  for (const other of rest) {
    const union = [...new Set([...first!, ...other])];
    const observed = new Set(cells.map((c) => project(c.values, union)));
    const f1 = new Map(cells.map((c) => [project(c.values, first!), c.variant]));
    const f2 = new Map(cells.map((c) => [project(c.values, other), c.variant]));
    for (const c1 of cells) {
      for (const c2 of cells) {
        const combo: Record<string, string> = {};
        let consistent = true;
        for (const a of first!) combo[a] = c1.values[a]!;
        for (const a of other) {
          if (a in combo && combo[a] !== c2.values[a]) consistent = false;
          combo[a] = c2.values[a]!;
        }
        if (!consistent) continue;
        const key = project(combo, union);
        if (observed.has(key) || seenOut.has(key)) continue;
        if (f1.get(project(combo, first!)) === f2.get(project(combo, other))) continue;
        seenOut.add(key);
        out.push(combo);
        if (out.length >= 4) return out;
      }
    }
  }
  return out;
}

export interface VariantGroup {
  variant: string;
  cells: string[];
  combos: Array<Record<string, string>>;
  values: Record<string, string[]>;
}

/** Cells grouped by variant, described by the attributing axes' values. Largest group first. */
export function groupCells(axes: string[], cells: CellVariant[]): VariantGroup[] {
  const byVariant = new Map<string, CellVariant[]>();
  for (const c of cells) {
    const list = byVariant.get(c.variant) ?? [];
    list.push(c);
    byVariant.set(c.variant, list);
  }
  const groups: VariantGroup[] = [];
  for (const [variant, members] of byVariant) {
    const combos = new Map<string, Record<string, string>>();
    const values: Record<string, string[]> = {};
    for (const m of members) {
      const combo: Record<string, string> = {};
      for (const a of axes) {
        const v = m.values[a] ?? '';
        combo[a] = v;
        const list = (values[a] ??= []);
        if (!list.includes(v)) list.push(v);
      }
      combos.set(project(combo, axes), combo);
    }
    groups.push({ variant, cells: members.map((m) => m.cell), combos: [...combos.values()], values });
  }
  return groups.sort((x, y) => y.cells.length - x.cells.length);
}
