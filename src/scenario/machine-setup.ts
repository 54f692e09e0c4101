import type { DialectName } from '../capture/schema.js';
import { prepareClock, type ClockCheck } from './clock.js';
import { builtInCatalogue, valueParams, type Catalogue, type Factor } from './factors/catalogue.js';
import { definitionsOf, factorsFromDefinitions, resolveFactors } from './factors/resolve.js';
import { baseUrlFor } from './factors/base-url.js';
import type { MachinePlan } from './factors/index.js';
import { ScenarioError } from './scenario-file.js';
import { detectMachineSupport, factorProblem, planMachine, type MachineSupport } from './machine.js';
import type { Cell, FactorDefinition, Manifest, MachineIsolation, SkippedFactor } from './manifest.js';
import type { NamespaceSupport } from './isolate.js';
import { hostnameOf } from './routing.js';
import type { Scenario } from './schema.js';

/**
 * Everything about the runs' machine that is decided once per run directory: which factors this
 * host can apply (the rest are skipped, and said so), the neutral values every run gets, the plan
 * of each cell, and the clocks the cells pin.
 */
export interface MachineSetup {
  support: MachineSupport;
  /** Factors that are axes of the design, applied or not. */
  factors: Map<string, Factor>;
  skipped: SkippedFactor[];
  /** What manifest.json stores. */
  isolation: MachineIsolation;
  definitions: Record<string, FactorDefinition>;
  /** Per cell id: its machine (filled by planCells). */
  plans: Map<string, MachinePlan>;
  /** Plans every cell once, before any run: a value that cannot be made real fails here. */
  planCells(cells: Cell[]): void;
  /** Per clock value of a clock factor: how it was pinned. */
  clocks: Map<string, ClockCheck>;
  /** Hostnames that must resolve to the proxy: proxy-url and base-url factor values. */
  routedHostnames(route: 'forward' | 'reverse'): string[];
}

export interface MachineSetupOptions {
  scenario: Scenario;
  /** The manifest being resumed: its factor definitions are used instead of the catalogue's. */
  existing: Manifest | null;
  ns: NamespaceSupport;
  dialect: Exclude<DialectName, 'unknown'>;
  where: string;
  catalogue?: Catalogue;
}

/** The factors and neutral values a new run directory gets, or the stored ones of a resumed one. */
function chooseFactors(opts: MachineSetupOptions): { factors: Map<string, Factor>; neutral: Factor[] } {
  const stored = opts.existing?.factors;
  if (stored) {
    const all = factorsFromDefinitions(stored, opts.where);
    const factors = new Map([...all].filter(([name]) => name in opts.scenario.factors));
    // An extended directory may bring plain values (a zone, a URL) its stored definitions lack;
    // one that does not check is reported when its cell is planned.
    for (const [name, factor] of factors) {
      for (const value of opts.scenario.factors[name] ?? []) {
        if (factor.values.has(value)) continue;
        const found = valueParams(factor, value);
        if (!('error' in found)) factor.values.set(value, found.params);
      }
    }
    return { factors, neutral: [...all.values()].filter((f) => !factors.has(f.name) && f.neutral !== undefined) };
  }
  if (opts.existing) {
    // A run directory from before machine factors: its runs saw the host's machine; keep it that way.
    return { factors: new Map(), neutral: [] };
  }
  const catalogue = opts.catalogue ?? builtInCatalogue();
  const factors = resolveFactors(opts.scenario.factors, catalogue, opts.where);
  const neutral = [...catalogue.factors.values()].filter((f) => f.neutral !== undefined && !factors.has(f.name));
  return { factors, neutral };
}

export async function setupMachine(opts: MachineSetupOptions): Promise<MachineSetup> {
  const { scenario } = opts;
  const support = await detectMachineSupport(opts.ns, scenario.route);
  const { factors, neutral: candidates } = chooseFactors(opts);
  const skipped: SkippedFactor[] = [];
  for (const factor of factors.values()) {
    const reason = factorProblem(factor, support);
    if (reason) skipped.push({ factor: factor.name, reason });
  }
  // A neutral value the host cannot present is simply not applied: the runs then see the host's, as before.
  const neutral = candidates.filter((f) => factorProblem(f, support) === null);

  const clocks = new Map<string, ClockCheck>();
  const clockFactor = [...factors.values()].find((f) => f.kind.kind === 'clock' && !skipped.some((s) => s.factor === f.name));
  if (clockFactor) {
    for (const value of clockFactor.values.keys()) clocks.set(value, await prepareClock(value, process.env.PATH));
    const failed = [...clocks.values()].find((c) => !c.pinned);
    if (failed) {
      skipped.push({ factor: clockFactor.name, reason: failed.detail });
      clocks.clear();
    }
  }
  const skippedNames = new Set(skipped.map((s) => s.factor));

  const ctx = { dialect: opts.dialect, route: scenario.route };
  const plans = new Map<string, MachinePlan>();
  const isolation: MachineIsolation = {
    etcView: support.etcView,
    uts: support.uts,
    home: support.home,
    detail: support.detail,
    neutral: Object.fromEntries(neutral.map((f) => [f.name, f.neutral!])),
    skipped,
    notes: [],
  };
  const planCells = (cells: Cell[]) => {
    const notes = new Set<string>();
    for (const cell of cells) {
      const cellFactors = Object.fromEntries(Object.entries(cell.values).filter(([name]) => factors.has(name) && !skippedNames.has(name)));
      let plan: MachinePlan;
      try {
        plan = planMachine({ cellFactors, factors, neutral, ctx });
      } catch (err) {
        throw new ScenarioError(`${opts.where}: cell ${cell.id}: ${(err as Error).message}`);
      }
      for (const note of plan.notes) notes.add(note);
      plans.set(cell.id, plan);
    }
    isolation.notes = [...notes];
  };
  return {
    support,
    factors,
    skipped,
    isolation,
    definitions: definitionsOf([...factors.values(), ...neutral]),
    plans,
    planCells,
    clocks,
    routedHostnames(route) {
      const out: string[] = [];
      for (const factor of factors.values()) {
        for (const params of factor.values.values()) {
          if (route === 'forward' && factor.kind.kind === 'proxy-url') out.push(hostnameOf(params as string));
          if (route === 'reverse' && factor.kind.kind === 'base-url') {
            const url = baseUrlFor(params as Parameters<typeof baseUrlFor>[0], opts.dialect);
            if (url) out.push(hostnameOf(url));
          }
        }
      }
      return out;
    },
  };
}
