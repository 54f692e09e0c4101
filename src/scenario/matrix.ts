import type { Cell } from './manifest.js';
import { ScenarioError } from './scenario-file.js';
import { designAxes, type Scenario } from './schema.js';

export interface PlannedRun {
  /** <cellId>-r<rep>, e.g. c003-r2 */
  id: string;
  cell: string;
  rep: number;
}

export interface Matrix {
  /** Axis name → values, scenario order, proxy_url last when used. */
  axes: Record<string, string[]>;
  cells: Cell[];
  runs: PlannedRun[];
}

/** Beyond this nothing is expanded at all, --yes or not: it would only exhaust memory. */
const HARD_LIMIT = 1_000_000;

function cellCount(scenario: Scenario, axes: Record<string, string[]>): number {
  const sizes = Object.values(axes).map((values) => values.length);
  if (scenario.design === 'full') return sizes.reduce((a, b) => a * b, 1);
  if (scenario.design === 'one-at-a-time') return 1 + sizes.reduce((a, b) => a + b - 1, 0);
  return scenario.design.cells.length;
}

function fullFactorial(axes: Record<string, string[]>): Record<string, string>[] {
  // The first axis varies slowest, like nested loops written in scenario order.
  let combos: Record<string, string>[] = [{}];
  for (const [axis, values] of Object.entries(axes)) {
    combos = combos.flatMap((combo) => values.map((value) => ({ ...combo, [axis]: value })));
  }
  return combos;
}

/** The baseline (every axis at its first value), then each other value of one axis at a time. */
function oneAtATime(axes: Record<string, string[]>): Record<string, string>[] {
  const baseline = Object.fromEntries(Object.entries(axes).map(([axis, values]) => [axis, values[0]!]));
  const combos = [baseline];
  for (const [axis, values] of Object.entries(axes)) {
    for (const value of values.slice(1)) combos.push({ ...baseline, [axis]: value });
  }
  return combos;
}

/** Ids are positional so they are stable for a given scenario: c001, c002, ... (wider past 999). */
export function cellId(index: number, total: number): string {
  return `c${String(index + 1).padStart(Math.max(3, String(total).length), '0')}`;
}

export function runCountOf(scenario: Scenario): number {
  return cellCount(scenario, designAxes(scenario)) * scenario.repetitions;
}

/**
 * Expands a scenario into cells × repetitions. Refuses matrices above `scenario.max_runs` runs unless
 * `yes`, so a typo in an axis list cannot start ten thousand agent processes.
 */
export function expandMatrix(scenario: Scenario, options: { yes?: boolean; skipped?: Iterable<string> } = {}): Matrix {
  const axes = designAxes(scenario);
  // A factor this host cannot apply keeps its first value: its other cells would only repeat that one.
  for (const name of options.skipped ?? []) if (axes[name]) axes[name] = axes[name].slice(0, 1);
  const cells = cellCount(scenario, axes);
  const total = cells * scenario.repetitions;
  if (total > HARD_LIMIT) {
    throw new ScenarioError(`${total} runs (${cells} cells × ${scenario.repetitions}) is beyond what promptdiff will expand (${HARD_LIMIT}); use design: one-at-a-time or an explicit cells list`);
  }
  if (total > scenario.max_runs && !options.yes) {
    throw new ScenarioError(
      `${total} runs (${cells} cells × ${scenario.repetitions} repetitions) is more than max_runs (${scenario.max_runs}): ` +
        'pass --yes to run them anyway, or use design: one-at-a-time / an explicit cells list',
    );
  }
  const combos =
    scenario.design === 'full'
      ? fullFactorial(axes)
      : scenario.design === 'one-at-a-time'
        ? oneAtATime(axes)
        : scenario.design.cells.map((cell) => ({ ...cell }));
  const cellList: Cell[] = combos.map((values, i) => ({ id: cellId(i, combos.length), values }));
  const runs: PlannedRun[] = [];
  for (const cell of cellList) {
    for (let rep = 1; rep <= scenario.repetitions; rep++) runs.push({ id: `${cell.id}-r${rep}`, cell: cell.id, rep });
  }
  return { axes, cells: cellList, runs };
}

export interface Shard {
  /** 1-based */
  index: number;
  count: number;
}

/** Parses "K/N" (1-based, 1 ≤ K ≤ N). */
export function parseShard(shard: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(shard);
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || count < 1 || index < 1 || index > count) throw new ScenarioError(`--shard ${shard}: expected K/N with 1 ≤ K ≤ N, e.g. 2/4`);
  return { index, count };
}

/** The shard (1-based) that owns the run at position `i` of the expanded matrix. */
export function shardOf(i: number, count: number): number {
  return (i % count) + 1;
}

/**
 * Parses "K/N" (1-based) and keeps every N-th run starting at the K-th, so shards interleave cells.
 * The slice depends only on the expanded matrix (scenario order), never on jobs or the machine, so
 * N machines given the same scenario cover every run exactly once. Interleaving also spreads the
 * repetitions of a cell over machines: whatever differs between machines shows up as noise inside a
 * cell (masked) rather than as a difference between cells (a false finding).
 */
export function selectShard<T>(runs: T[], shard: string | undefined): T[] {
  if (!shard) return runs;
  const { index, count } = parseShard(shard);
  return runs.filter((_, i) => shardOf(i, count) === index);
}
