import { existsSync } from 'node:fs';
import path from 'node:path';
import { diffRunDir, writeFindings, type Findings } from '../diff/index.js';
import { exitCodeFor } from '../report/exit-code.js';
import { builtInCatalogue, type Catalogue } from '../scenario/factors/catalogue.js';
import { detectNamespaces } from '../scenario/isolate.js';
import { loadScenario, ScenarioError, validateScenario } from '../scenario/scenario-file.js';
import { detectMachineSupport } from '../scenario/machine.js';
import { MANIFEST_FORMAT, type Manifest } from '../scenario/manifest.js';
import { createProgress, type Progress } from '../scenario/progress.js';
import { resolvePaths, serializeScenario } from '../scenario/resolve.js';
import { runScenario, type RunScenarioOptions } from '../scenario/runner.js';
import type { Scenario } from '../scenario/schema.js';
import { toolVersion } from '../version.js';
import { tagsIn } from '../capture/secret-values.js';
import { redactScenarioRecord, scenarioSecrets, type ScenarioSecrets } from '../scenario/secrets.js';
import {
  cellKeys,
  COVERT_CLASSES,
  factorialSize,
  factorsToCross,
  foldOverCells,
  followUpCells,
  followUpValues,
  matteredFactors,
  profileCell,
  profilesToFoldOver,
  screenCells,
  valueCells,
  type AuditFactor,
  type Cell,
  type PlannedCell,
  type StageName,
} from './design.js';
import { chooseAuditFactors, dialectOf, observability, type AuditFactors } from './factors.js';
import { AUDIT_FORMAT, AUDIT_VERSION, type Audit, type AuditOptions, type StageRecord } from './schema.js';
import { verdictOf } from './verdict.js';
import { DEFAULT_STUB_SCRIPT } from '../proxy/stub-script-definition.js';
import { AUDIT_FILE } from './summary.js';
import { EXIT } from '../errors.js';

export { AUDIT_FILE };
export const DEFAULT_BUDGET = 600;

export interface RunAuditOptions {
  scenarioPath?: string;
  scenario?: Scenario;
  baseDir?: string;
  outDir: string;
  /** Continue an audit directory: its audit.json has the scenario and options. */
  resume?: boolean;
  factors?: string[] | null;
  profiles?: string[] | null;
  allValues?: boolean;
  budget?: number;
  jobs?: number;
  certsDir?: string;
  /** Write secret values as they are (see RunScenarioOptions.keepSecrets). */
  keepSecrets?: boolean;
  catalogue?: Catalogue;
  /** Progress for one stage (default: a bar or lines on stderr, labelled with the stage). */
  progress?: (stage: StageName, index: number) => Progress;
  signal?: AbortSignal;
  agentInstall?: RunScenarioOptions['agentInstall'];
  startProxy?: RunScenarioOptions['startProxy'];
}

export interface AuditResult {
  audit: Audit;
  findings: Findings | null;
  outDir: string;
  exitCode: number;
}

function labelled(stage: StageName, index: number): Progress {
  const inner = createProgress(process.stderr);
  return { ...inner, start: (n, header) => inner.start(n, `audit stage ${index + 1} (${stage}): ${header}`) };
}

async function readAudit(outDir: string): Promise<Audit> {
  const file = AUDIT_FORMAT.pathIn(outDir);
  const audit = await AUDIT_FORMAT.read(file, { fail: (message) => new ScenarioError(message) });
  if (audit === null) throw new ScenarioError(`${file}: not found: is ${outDir} an audit directory?`);
  return audit;
}

async function writeAudit(outDir: string, audit: Audit, secrets: ScenarioSecrets): Promise<void> {
  // The scenario as given is kept for --resume: its secret values become tags, as in manifest.json.
  const written: Audit = secrets.secrets.deep({
    ...audit,
    scenario: redactScenarioRecord(audit.scenario, secrets.secrets),
    secrets: { policy: secrets.keep ? 'kept' : 'redacted', fields: secrets.fields },
  });
  await AUDIT_FORMAT.write(AUDIT_FORMAT.pathIn(outDir), written);
}

/**
 * The clock of an audit that does not vary the clock: the catalogue's baseline instant instead of
 * the host's, as every other machine fact is the catalogue's neutral one. With the real clock the
 * host shows through, and by the hour: after 16:00 UTC it is tomorrow in Asia/Shanghai, and Claude
 * Code 2.1.91's date-separator channel (by time zone) then hid inside a plain date change with the
 * same cause (one value-change, not the format-change; measured 2026-12-01). A scenario that pins
 * its own clock keeps it.
 */
function auditClock(base: Scenario, chosen: AuditFactors, catalogue: Catalogue): string | undefined {
  if (base.clock !== 'real') return undefined;
  if ([...chosen.definitions.values()].some((d) => d.kind.kind === 'clock')) return undefined;
  return [...catalogue.factors.values()].find((f) => f.kind.kind === 'clock')?.baseline;
}

/** The scenario of the audit's runs: the given one with every factor tried and the design's cells so far. */
function runScenarioOf(base: Scenario, chosen: AuditFactors, cells: Cell[], catalogue: Catalogue): Scenario {
  const clock = auditClock(base, chosen, catalogue);
  const factors: Record<string, string[]> = {};
  for (const f of chosen.factors) if (chosen.definitions.has(f.name)) factors[f.name] = f.values;
  // Recorded as skipped by the runner (with one value, so they add no cells).
  for (const f of chosen.skippedDefinitions.values()) factors[f.name] = [f.baseline];
  const expect = [...base.expect];
  if (chosen.definitions.has('network.base-url') && !expect.some((e) => e.path === 'headers.host')) {
    // The Host header naming the API host is what a base URL is for: overt, not a channel.
    expect.push({ path: 'headers.host', axis: 'network.base-url' });
  }
  const skippedCell = Object.fromEntries([...chosen.skippedDefinitions.values()].map((f) => [f.name, f.baseline]));
  return {
    ...base,
    // Offline, the agent takes a few turns with its tools (DEFAULT_STUB_SCRIPT): what it adds after
    // the first turn, and what it learns by running commands, is compared too.
    ...(base.upstream === 'stub' && !base.stub_script ? { stub_script: DEFAULT_STUB_SCRIPT } : {}),
    ...(clock ? { clock } : {}),
    factors,
    design: { cells: cells.map((c) => ({ ...c, ...skippedCell })) },
    expect,
    max_runs: Number.MAX_SAFE_INTEGER,
  };
}

function summariseFindings(findings: Findings): StageRecord['findings'] {
  const factors = new Set<string>();
  for (const f of findings.findings) if (f.class !== 'expected') for (const a of f.attribution.axes) factors.add(a);
  const covert = findings.findings
    .filter((f) => COVERT_CLASSES.has(f.class))
    .map((f) => ({ class: f.class, factors: f.attribution.axes, path: f.location.path }));
  return { total: findings.summary.counts.total, byClass: findings.summary.counts.byClass, factors: [...factors], covert };
}

/**
 * Runs an audit: stage after stage (design.ts) into one run directory, diffing after each stage
 * to decide the next, then writes findings.json, report.html and audit.json.
 */
export async function runAudit(opts: RunAuditOptions): Promise<AuditResult> {
  const outDir = path.resolve(opts.outDir);
  const previous = opts.resume ? await readAudit(outDir) : null;
  let base: Scenario;
  let scenarioFile: string | null = null;
  const keep = previous?.secrets ? previous.secrets.policy === 'kept' : Boolean(opts.keepSecrets);
  if (previous && opts.scenarioPath) {
    // Resuming with the scenario file: it must be the audit's scenario, and it brings the secret
    // values audit.json has only as tags.
    const loaded = await loadScenario(opts.scenarioPath);
    base = resolvePaths(loaded.scenario, loaded.baseDir);
    scenarioFile = previous.scenarioFile ?? loaded.file;
    const restored = scenarioSecrets(base, keep).secrets.restore(previous.scenario);
    if (JSON.stringify(restored) !== JSON.stringify(serializeScenario(base))) {
      throw new ScenarioError(`${opts.scenarioPath}: not the scenario of the audit in ${outDir}; resume with the scenario it started with, or use a new --out`);
    }
  } else if (previous) {
    const left = tagsIn(previous.scenario);
    if (left.length) {
      throw new ScenarioError(
        `${path.join(outDir, AUDIT_FILE)}: the scenario's secret values were not written down (${previous.secrets?.fields.join(', ') || left.join(', ')}): resume with the scenario file,  promptdiff audit SCENARIO --resume ${outDir}`,
      );
    }
    base = validateScenario(previous.scenario, path.join(outDir, AUDIT_FILE));
    scenarioFile = previous.scenarioFile;
  } else if (opts.scenario) {
    base = resolvePaths(opts.scenario, path.resolve(opts.baseDir ?? process.cwd()));
  } else if (opts.scenarioPath) {
    const loaded = await loadScenario(opts.scenarioPath);
    base = resolvePaths(loaded.scenario, loaded.baseDir);
    scenarioFile = loaded.file;
  } else {
    throw new ScenarioError('promptdiff audit: give a scenario file (or --resume an audit directory)');
  }
  const secrets = scenarioSecrets(base, keep);
  if (typeof base.design === 'object') throw new ScenarioError(`${scenarioFile ?? 'scenario'}: design: the audit chooses its own cells; leave design out`);
  const options: AuditOptions = previous?.options ?? {
    factors: opts.factors ?? null,
    profiles: opts.profiles ?? null,
    allValues: opts.allValues ?? false,
    budget: opts.budget ?? DEFAULT_BUDGET,
  };
  const where = scenarioFile ?? 'scenario';
  const catalogue = opts.catalogue ?? builtInCatalogue();
  const ns = await detectNamespaces();
  const support = await detectMachineSupport(ns, base.route);
  const chosen = chooseAuditFactors({ scenario: base, catalogue, support, names: options.factors, profiles: options.profiles, where });
  const { factors, profiles } = chosen;
  const reps = base.repetitions;

  const audit: Audit = {
    v: AUDIT_VERSION,
    tool: { name: 'promptdiff', version: toolVersion() },
    createdAt: previous?.createdAt ?? new Date().toISOString(),
    scenarioFile,
    scenario: serializeScenario(base),
    options,
    factors: {
      tried: factors.map((f) => ({ name: f.name, kind: chosen.definitions.get(f.name)?.kind.kind ?? 'env', baseline: f.baseline, values: f.values })),
      skipped: chosen.skipped,
      notApplicable: chosen.notApplicable,
    },
    profiles: profiles.map((p) => ({ name: p.name, summary: catalogue.profiles.get(p.name)?.summary ?? '', values: p.values })),
    stages: [],
    runs: { total: 0, ok: 0, fullFactorial: factors.reduce((n, f) => n * f.values.length, 1) * reps },
    mattered: [],
    verdict: [],
    status: 'complete',
    exitCode: EXIT.ok,
  };

  const keyOf = (v: Cell) => JSON.stringify(factors.map((f) => v[f.name]));
  const only = (v: Cell): Cell => Object.fromEntries(factors.map((f) => [f.name, v[f.name]!]));
  let manifest: Manifest | null = null;
  let findings: Findings | null = null;
  if (!previous) {
    // Written before the first run and again after each stage: an audit killed at any point (even
    // with SIGKILL, in its first stage) leaves an audit.json that says it did not finish, and that
    // --resume can start from. Until the end it says interrupted, as it would be if the process died.
    await writeAudit(outDir, { ...audit, status: 'interrupted', exitCode: EXIT.runsFailed }, secrets);
  }
  if (previous && existsSync(MANIFEST_FORMAT.pathIn(outDir))) {
    // Finish what the interrupted audit left (its manifest has the scenario and every planned cell).
    const result = await runScenario({ outDir, resume: true, jobs: opts.jobs, certsDir: opts.certsDir, keepSecrets: keep, secretSource: base, catalogue, progress: (opts.progress ?? labelled)('screen', 0), signal: opts.signal, agentInstall: opts.agentInstall, startProxy: opts.startProxy });
    manifest = result.manifest;
    if (opts.signal?.aborted) audit.status = 'interrupted';
    else if (result.exitCode !== EXIT.ok) audit.status = 'runs-failed';
  }
  // What the runner is given: the directory's cells in its order, new ones appended (never reordered).
  const designCells: Cell[] = (manifest?.cells ?? []).map((c) => only(c.values));
  // What the stages have chosen so far: their decisions read only these cells' runs, so resuming
  // re-derives the same stages from the same captures.
  const cells: Cell[] = [];
  const observable = observability(base, chosen, dialectOf(base));

  const runStage = async (stage: StageName, planned: PlannedCell[], note?: string): Promise<boolean> => {
    const index = audit.stages.length;
    const have = new Set(cells.map(keyOf));
    const blind = planned.filter((c) => !observable(c.values));
    const wanted = planned.filter((c) => observable(c.values) && !have.has(keyOf(c.values)));
    const room = Math.floor((options.budget - cells.length * reps) / reps);
    if (stage === 'screen' && wanted.length > room) {
      throw new ScenarioError(
        `the screen needs ${wanted.length} cells × ${reps} repetitions = ${wanted.length * reps} runs, more than --budget ${options.budget}: raise the budget, or narrow it with --factors / --profiles`,
      );
    }
    const taken = wanted.slice(0, Math.max(0, room));
    const t0 = Date.now();
    const stored = new Set(designCells.map(keyOf));
    const fresh = taken.filter((c) => !stored.has(keyOf(c.values)));
    for (const c of taken) cells.push(c.values);
    for (const c of fresh) designCells.push(c.values);
    if (audit.status !== 'interrupted' && (fresh.length > 0 || !manifest)) {
      const result = await runScenario({
        scenario: runScenarioOf(base, chosen, designCells, catalogue),
        outDir,
        resume: manifest !== null,
        extend: manifest !== null,
        callerFiles: [AUDIT_FILE],
        jobs: opts.jobs,
        yes: true,
        certsDir: opts.certsDir,
        keepSecrets: keep,
        catalogue,
        progress: (opts.progress ?? labelled)(stage, index),
        signal: opts.signal,
        agentInstall: opts.agentInstall,
        startProxy: opts.startProxy,
      });
      manifest = result.manifest;
      // A failed run leaves its cell out of the comparison; the stages go on and the audit says so.
      if (opts.signal?.aborted) audit.status = 'interrupted';
      else if (result.exitCode !== EXIT.ok) audit.status = 'runs-failed';
    }
    const idByKey = new Map((manifest?.cells ?? []).map((c) => [keyOf(c.values), c.id]));
    findings = manifest ? await diffRunDir(outDir, { cells: new Set(cells.map((c) => idByKey.get(keyOf(c))!)) }) : null;
    const present = planned.filter((c) => observable(c.values) && idByKey.has(keyOf(c.values)) && (taken.includes(c) || have.has(keyOf(c.values))));
    const notes = [
      ...(note ? [note] : []),
      ...(wanted.length > taken.length ? [`--budget ${options.budget} left ${wanted.length - taken.length} planned cells out`] : []),
      ...(blind.length ? [`${blind.length} planned cells left out: their NO_PROXY excludes the agent's API host, so the agent would bypass the proxy (forward route)`] : []),
    ];
    audit.stages.push({
      name: stage,
      cells: present.map((c) => ({ id: idByKey.get(keyOf(c.values))!, purposes: c.purposes })),
      runs: fresh.length * reps,
      startedAt: new Date(t0).toISOString(),
      durationMs: Date.now() - t0,
      cellsLeftOut: wanted.length - taken.length,
      findings: findings ? summariseFindings(findings) : { total: 0, byClass: {}, factors: [], covert: [] },
      ...(notes.length ? { note: notes.join('; ') } : {}),
    });
    await writeAudit(outDir, audit, secrets);
    return audit.status !== 'interrupted';
  };

  const cellValues = () => new Map((manifest?.cells ?? []).map((c) => [c.id, c.values]));
  const tried = () => cellKeys(cells, factors);

  let ok = await runStage('screen', screenCells(factors, profiles, options.allValues));
  if (ok) {
    const idOf = new Map([...cellValues()].map(([id, v]) => [JSON.stringify(factors.map((f) => v[f.name])), id]));
    const profileIds = new Map(profiles.map((p) => [p.name, idOf.get(JSON.stringify(factors.map((f) => profileCell(factors, p)[f.name])))!]));
    const fold = profilesToFoldOver(findings!, profileIds);
    const planned = foldOverCells(factors, profiles.filter((p) => fold.includes(p.name)), tried());
    ok = await runStage('fold-over', planned, fold.length === 0 ? 'every change in the profiles is explained by one factor alone: nothing to fold over' : undefined);
  }
  if (ok) {
    const crossed = factorsToCross(matteredFactors(findings!, cellValues(), factors.map((f) => f.name)));
    const values = followUpValues(factors, crossed);
    const planned = crossed.length > 1 ? followUpCells(factors, values, tried()) : { cells: [], design: 'full' as const };
    ok = await runStage(
      'follow-up',
      planned.cells,
      crossed.length <= 1
        ? `${crossed.length === 0 ? 'no factor drives' : `only ${crossed[0]!.factor} drives`} a covert change: nothing to cross`
        : planned.design === 'full'
          ? `full factorial over ${crossed.map((m) => m.factor).join(' × ')} (${factorialSize(values)} cells)`
          : `every pair of ${crossed.map((m) => m.factor).join(', ')} crossed (the full factorial would be ${factorialSize(values)} cells)`,
    );
  }
  if (ok) {
    const mattered = factorsToCross(matteredFactors(findings!, cellValues(), factors.map((f) => f.name)));
    const byFactor = new Map<string, Set<string>>();
    for (const c of cells) for (const f of factors) (byFactor.get(f.name) ?? byFactor.set(f.name, new Set()).get(f.name)!).add(c[f.name]!);
    const planned = valueCells(factors, mattered, (name) => witnessCell(findings!, cellValues(), factors, name), byFactor, tried());
    ok = await runStage('values', planned, planned.length === 0 ? 'every value of the factors that mattered was tried already' : undefined);
  }

  // The verdict reads every cell the directory holds, as `promptdiff diff DIR` does.
  const final = manifest ? await diffRunDir(outDir) : null;
  if (final) {
    await writeFindings(outDir, final);
    audit.mattered = matteredFactors(final, cellValues(), factors.map((f) => f.name));
    audit.verdict = verdictOf(final);
  }
  const runs = (manifest as Manifest | null)?.runs ?? [];
  audit.runs.total = runs.length;
  audit.runs.ok = runs.filter((r) => r.status === 'ok').length;
  const skippedCount = chosen.skipped.length;
  audit.exitCode = audit.status !== 'complete' ? EXIT.runsFailed : final ? exitCodeFor(final) : EXIT.runsFailed;
  if (skippedCount > 0 && audit.exitCode === EXIT.ok) audit.exitCode = EXIT.runsFailed;
  await writeAudit(outDir, audit, secrets);
  return { audit, findings: final, outDir, exitCode: audit.exitCode };
}

/**
 * A cell where `factor`'s change shows with the fewest other factors away from their baseline:
 * the context in which its other values are tried.
 */
function witnessCell(findings: Findings, cells: Map<string, Cell>, factors: AuditFactor[], factor: string): Cell | null {
  const base = Object.fromEntries(factors.map((f) => [f.name, f.baseline]));
  let best: Cell | null = null;
  let bestDistance = Infinity;
  for (const f of findings.findings) {
    // Where the covert change shows: the values stage asks which other values trigger it.
    if (!(COVERT_CLASSES.has(f.class) || f.attribution.interaction) || !f.attribution.axes.includes(factor)) continue;
    for (const g of f.attribution.groups) {
      if (g.baseline) continue;
      for (const id of g.cells) {
        const values = cells.get(id);
        if (!values) continue;
        const distance = factors.filter((x) => values[x.name] !== base[x.name]).length;
        if (distance < bestDistance) {
          best = values;
          bestDistance = distance;
        }
      }
    }
  }
  return best;
}
