import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { InstallOptions } from '../agents/index.js';
import { diffRunDir, FINDINGS_FORMAT, InputError, type Finding, type Findings } from '../diff/index.js';
import { codePointInfo, codePoints } from '../diff/unicode.js';
import { loadManifest } from '../diff/run-dir.js';
import { baseUrlFor } from '../scenario/factors/base-url.js';
import { builtInCatalogue, valueParams, type Catalogue, type Factor } from '../scenario/factors/catalogue.js';
import { factorsFromDefinitions } from '../scenario/factors/resolve.js';
import { loadScenario, validateScenario } from '../scenario/scenario-file.js';
import { resolvePaths } from '../scenario/resolve.js';
import { scenarioSecrets } from '../scenario/secrets.js';
import { tagsIn } from '../capture/secret-values.js';
import type { FactorDefinition, Manifest } from '../scenario/manifest.js';
import { dialectOfVariable, scenarioPreset } from '../scenario/prepare-agent.js';
import type { Progress } from '../scenario/progress.js';
import type { RunScenarioOptions } from '../scenario/runner.js';
import { PROXY_URL_AXIS, type Scenario } from '../scenario/schema.js';
import { toolVersion } from '../version.js';
import { apiHostUrls, supportedLocales, systemZones } from './corpora.js';
import { explainVariant, type Corpus, type VariantPlan } from './design.js';
import { ProbeEngine } from './probes.js';
import { EXPLAIN_FORMAT, EXPLAIN_VERSION, type Explain, type ExplainedVariant } from './schema.js';
import { shapeNamed, shapeOfKind, shapeOfValues, type ShapeName } from './shapes.js';
import { commandProblem } from './agent-check.js';
import { EXIT } from '../errors.js';

export { EXPLAIN_FILE } from './schema.js';
export { readExplanations } from './store.js';
import { readExplanations } from './store.js';

export const DEFAULT_EXPLAIN_BUDGET = 800;
export const EXPLAIN_DIR = 'explain';

export interface RunExplainOptions {
  runDir: string;
  finding: string;
  /** The axis to explain; needed only when the finding depends on several together. */
  axis?: string;
  /** Most runs in all, anchors included (default 800: the time-zone corpus fits). */
  budget?: number;
  jobs?: number;
  /** false: no corpus beyond the axis's own search (zones, locales and catalogue ids still try the witness). */
  corpus?: boolean;
  /** The run's scenario file: puts back secret values its manifest holds only as tags. */
  scenarioPath?: string;
  /** Replace the built-in corpora (narrow runs, tests): zone names; base URLs or hosts. */
  zones?: string[];
  hosts?: string[];
  certsDir?: string;
  progress?: (round: number, runs: number) => Progress;
  signal?: AbortSignal;
  agentInstall?: InstallOptions;
  startProxy?: RunScenarioOptions['startProxy'];
}

export interface ExplainResult {
  explain: Explain;
  finding: Finding;
  findings: Findings;
  dir: string;
  exitCode: number;
}

/**
 * The manifest with the run's secret values put back from its scenario file: probes must run with
 * what the run had, and a manifest written without secrets holds only their tags.
 */
async function withSecrets(manifest: Manifest, runDir: string, scenarioPath: string | undefined, keep: boolean): Promise<Manifest> {
  let record = manifest;
  if (scenarioPath) {
    const loaded = await loadScenario(scenarioPath);
    record = scenarioSecrets(resolvePaths(loaded.scenario, loaded.baseDir), keep).secrets.restore(manifest);
  }
  const left = tagsIn(record.scenario);
  if (left.length) {
    const fields = manifest.secrets?.fields.length ? manifest.secrets.fields.join(', ') : left.join(', ');
    throw new InputError(
      `${runDir}: the run's secret values were not written down (${fields})${scenarioPath ? ` and ${scenarioPath} does not hold them` : ''}: give its scenario file with --scenario FILE`,
    );
  }
  return record;
}

async function readOrDiff(runDir: string): Promise<{ findings: Findings; file: string }> {
  const file = FINDINGS_FORMAT.pathIn(runDir);
  const findings = await FINDINGS_FORMAT.read(file);
  if (findings === null) return { findings: await diffRunDir(runDir), file: `${runDir} (diffed now: no findings.json)` };
  return { findings, file };
}

function chooseFinding(findings: Findings, id: string, file: string): Finding {
  const f = findings.findings.find((x) => x.id === id);
  if (!f) {
    const known = findings.findings.map((x) => x.id);
    const list = known.length ? `its findings: ${known.slice(0, 6).join(', ')}${known.length > 6 ? `, … (${known.length})` : ''}` : 'it has no findings';
    throw new InputError(`--finding ${id}: no such finding in ${file} (${list})`);
  }
  if (f.span === null) {
    throw new InputError(`--finding ${id} is a ${f.class} finding (a ${f.class === 'request-presence' ? 'request' : 'field'} sent only in some cells): explain needs changed bytes to minimise, and a presence finding has none`);
  }
  return f;
}

function chooseAxis(f: Finding, asked: string | undefined): string {
  const axes = f.attribution.axes;
  if (axes.length === 0) throw new InputError(`--finding ${f.id} is not determined by any axis of its run: nothing to explain`);
  if (asked !== undefined) {
    if (!axes.includes(asked)) throw new InputError(`--axis ${asked}: finding ${f.id} does not depend on it (it depends on ${axes.join(' × ')})`);
    return asked;
  }
  if (axes.length > 1) throw new InputError(`finding ${f.id} depends on ${axes.join(' × ')} together: choose one with --axis ${axes.map((a) => a).join(' or --axis ')}`);
  return axes[0]!;
}

/** Installs (or finds) the run's exact agent before any probe: one clear line when it cannot be. */
async function checkAgent(manifest: Manifest, scenario: Scenario, runDir: string, install?: InstallOptions): Promise<Scenario> {
  const agent = scenario.agent;
  if ('command' in agent) {
    const problem = commandProblem(agent.command);
    if (problem) throw new InputError(`${runDir}: its agent can no longer be run: ${problem}`);
    return scenario;
  }
  const preset = scenarioPreset(agent.preset);
  const version = manifest.agent.version ?? agent.version ?? 'latest';
  try {
    await preset.install(version, install);
  } catch (err) {
    throw new InputError(`${runDir}: its agent ${preset.name}@${version} can no longer be installed (${(err as Error).message.split('\n')[0]})`);
  }
  // The exact version the run used, never a `latest` that moved since.
  return { ...scenario, agent: { ...agent, version } };
}

type Values = Record<string, string>;

/** Axes other than `axis` on which two cells differ. */
const distance = (a: Values, b: Values, axis: string) => Object.keys(a).filter((k) => k !== axis && a[k] !== b[k]).length;

function cellValues(manifest: Manifest): Map<string, Values> {
  return new Map(manifest.cells.map((c) => [c.id, c.values]));
}

interface AxisModel {
  shape: ShapeName;
  /** The value as the agent saw it (a catalogue base URL's endpoint for the agent's dialect). */
  plain(value: string): string;
  accepts(value: string): boolean;
  subject(field: string): string;
  corpora: Corpus[];
}

function dialectOf(manifest: Manifest, scenario: Scenario): string {
  if (manifest.agent.dialect) return manifest.agent.dialect;
  return 'preset' in scenario.agent ? (scenarioPreset(scenario.agent.preset).dialect as string) : dialectOfVariable(scenario.agent.base_url_var);
}

function axisModel(axis: string, manifest: Manifest, scenario: Scenario, catalogue: Catalogue, opts: RunExplainOptions): AxisModel {
  const dialect = dialectOf(manifest, scenario);
  const def: FactorDefinition | undefined = manifest.factors?.[axis];
  const withCorpus = opts.corpus !== false;
  if (def && axis in scenario.factors) {
    const factor: Factor = catalogue.factors.get(axis)!;
    const plain = (v: string): string => {
      const params = def.values[v] ?? factor.values.get(v);
      if (typeof params === 'string') return params;
      if (def.kind === 'base-url' && params && typeof params === 'object') return baseUrlFor(params as Parameters<typeof baseUrlFor>[0], dialect) ?? v;
      return v;
    };
    const shapeName: ShapeName = factor.kind.plainValues ? shapeOfKind(def.kind) : 'atomic';
    const shape = shapeNamed(shapeName);
    const accepts = (v: string) => (shapeName === 'atomic' ? factor.values.has(v) : shape.valid(v) && !('error' in valueParams(factor, v)));
    const catalogueValues = [...new Set([...Object.keys(def.values), ...factor.values.keys()])].map(plain);
    const corpora: Corpus[] = [];
    if (shapeName === 'zone') {
      const tz = systemZones();
      corpora.push({ name: opts.zones ? 'zones given' : `tzdata ${tz.version}`, values: opts.zones ?? (withCorpus ? tz.zones : []) });
    } else if (shapeName === 'locale' && withCorpus) {
      corpora.push({ name: 'glibc SUPPORTED', values: supportedLocales() });
    } else if (def.kind === 'base-url' && withCorpus) {
      corpora.push({ name: opts.hosts ? 'hosts given' : 'API hosts', values: (opts.hosts ?? apiHostUrls()).map((h) => (/^https?:\/\//.test(h) ? h : `https://${h}`)) });
      corpora.push({ name: 'catalogue', values: catalogueValues });
    } else if (withCorpus || shapeName === 'atomic') {
      corpora.push({ name: 'catalogue', values: catalogueValues });
    }
    const subject = (field: string): string => {
      if (shapeName === 'url') return `${def.kind === 'base-url' ? 'base URL' : def.kind === 'proxy-url' ? 'proxy URL' : 'git remote'} ${field}`;
      if (shapeName === 'zone') return 'time zone';
      if (shapeName === 'hostname') return 'hostname';
      if (shapeName === 'locale') return `locale ${field}`;
      if (shapeName === 'identity') return field === 'name' ? 'git user.name' : `git e-mail ${field}`;
      return axis;
    };
    return { shape: shapeName, plain, accepts, subject, corpora };
  }
  const values = axis === PROXY_URL_AXIS ? scenario.proxy_urls ?? [] : scenario.axes[axis] ?? [];
  const shapeName: ShapeName = axis === PROXY_URL_AXIS ? 'url' : shapeOfValues(values);
  const shape = shapeNamed(shapeName);
  return {
    shape: shapeName,
    plain: (v) => v,
    accepts: shape.valid,
    subject: (field) => (field === 'value' ? axis : `${axis} ${field}`),
    corpora: withCorpus ? [{ name: 'the run directory', values }] : [],
  };
}

async function writeExplain(dir: string, explain: Explain): Promise<string> {
  const file = EXPLAIN_FORMAT.pathIn(dir);
  await EXPLAIN_FORMAT.write(file, explain);
  return file;
}

/**
 * Explains one finding of a run directory: per variant, the smallest values of its axis that
 * still produce it, the rule they follow, and the probes behind it, all run into
 * RUN_DIR/explain/<finding-id>/ (a run directory of its own) with the run's agent, isolation,
 * clock and task; writes explain.json there.
 */
export async function runExplain(opts: RunExplainOptions): Promise<ExplainResult> {
  const t0 = Date.now();
  const runDir = path.resolve(opts.runDir);
  const raw = await loadManifest(runDir);
  const keepSecrets = raw.secrets?.policy === 'kept';
  const manifest = await withSecrets(raw, runDir, opts.scenarioPath, keepSecrets);
  const { findings, file } = await readOrDiff(runDir);
  const finding = chooseFinding(findings, opts.finding, file);
  const axis = chooseAxis(finding, opts.axis);
  const dir = path.join(runDir, EXPLAIN_DIR, finding.id);
  const previous = (await readExplanations(runDir)).get(finding.id);
  if (previous && previous.axis !== axis) {
    throw new InputError(`${dir} explains ${finding.id} along ${previous.axis}: move it away to explain along ${axis}`);
  }
  const stored = validateScenario(manifest.scenario, path.join(runDir, 'manifest.json'));
  const scenario = await checkAgent(manifest, stored, runDir, opts.agentInstall);

  const builtIn = builtInCatalogue();
  const catalogue: Catalogue = {
    factors: new Map([...builtIn.factors, ...factorsFromDefinitions(manifest.factors ?? {}, path.join(runDir, 'manifest.json'))]),
    profiles: builtIn.profiles,
  };
  const model = axisModel(axis, manifest, scenario, catalogue, opts);

  // Anchors: a witness per variant (fewest other axes off their baseline), and a baseline cell beside the first.
  const cells = cellValues(manifest);
  const firstValue = (a: string) => manifest.axes[a]?.[0];
  const offBaseline = (v: Values) => Object.keys(v).filter((a) => a !== axis && v[a] !== firstValue(a)).length;
  const groups = finding.attribution.groups;
  const baseGroup = groups.find((g) => g.baseline)!;
  const variantGroups = groups.filter((g) => !g.baseline);
  const pick = (ids: string[], score: (v: Values) => number) =>
    ids.filter((id) => cells.has(id)).sort((a, b) => score(cells.get(a)!) - score(cells.get(b)!) || a.localeCompare(b))[0];
  const witnesses = variantGroups.map((g) => pick(g.cells, offBaseline)!);
  const baselineId = pick(baseGroup.cells, (v) => distance(v, cells.get(witnesses[0]!)!, axis) * 100 + offBaseline(v))!;
  const anchorIds = [...new Set([baselineId, ...witnesses])];
  const anchors = anchorIds.map((id) => cells.get(id)!);

  const engine = new ProbeEngine({
    dir,
    base: scenario,
    axis,
    anchors,
    roles: {
      baseline: anchorIds.indexOf(baselineId),
      variants: variantGroups.map((g, i) => ({ index: anchorIds.indexOf(witnesses[i]!), text: g.text })),
    },
    baselineText: baseGroup.text,
    original: finding,
    budget: opts.budget ?? DEFAULT_EXPLAIN_BUDGET,
    jobs: opts.jobs,
    catalogue,
    progress: opts.progress,
    signal: opts.signal,
    agentInstall: opts.agentInstall,
    startProxy: opts.startProxy,
    certsDir: opts.certsDir,
    keepSecrets,
  });
  await mkdir(path.dirname(dir), { recursive: true });
  await engine.open();

  const batch = Math.max(2, opts.jobs ?? scenario.jobs);
  const shape = shapeNamed(model.shape);
  const results = await Promise.all(
    variantGroups.map(async (g, i) => {
      const witness = cells.get(witnesses[i]!)!;
      // The other side of a threshold: a baseline cell in the witness's context, if the run has one.
      const sameContext = baseGroup.cells.map((id) => cells.get(id)!).find((v) => v && distance(v, witness, axis) === 0);
      const plan: VariantPlan = {
        target: g.text,
        from: model.plain(witness[axis]!),
        baselineValue: model.plain((sameContext ?? cells.get(baselineId)!)[axis]!),
        shape,
        accepts: model.accepts,
        corpora: model.corpora,
        subject: model.subject,
        batch,
        exhausted: () => engine.exhausted,
      };
      const r = await explainVariant(plan, engine.oracle(witness));
      const variant: ExplainedVariant = {
        text: g.text,
        codePoints: codePoints(g.text).map(codePointInfo).map((c) => ({ cp: c.cp, name: c.name })),
        minimal: r.minimal,
        rule: r.rule,
        conditions: r.conditions,
        probes: r.probes,
        runs: r.runs,
        witness: { cell: witnesses[i]!, values: witness },
        durationMs: Date.now() - t0,
        from: plan.from,
        notes: r.notes,
      };
      return variant;
    }),
  );
  await engine.settle();

  const status: Explain['status'] = opts.signal?.aborted ? 'interrupted' : engine.failures.length ? 'runs-failed' : engine.exhausted ? 'budget-exhausted' : 'complete';
  const explain: Explain = {
    v: EXPLAIN_VERSION,
    finding: finding.id,
    axis,
    variants: results,
    tool: { name: 'promptdiff', version: toolVersion() },
    createdAt: new Date().toISOString(),
    runDir,
    class: finding.class,
    path: finding.location.path,
    summary: finding.summary,
    shape: model.shape,
    baseline: { text: baseGroup.text, cell: baselineId, value: model.plain(cells.get(baselineId)![axis]!) },
    runsTotal: engine.runs,
    budget: opts.budget ?? DEFAULT_EXPLAIN_BUDGET,
    status,
    durationMs: Date.now() - t0,
    notes: [
      `probes kept the other axes as in each variant's witness cell; ${engine.reps} repetitions in the ${anchorIds.length} anchor cells, one run per probe cell (noise seen in any cell is masked in all)`,
      ...(engine.failures.length ? [`${engine.failures.length} probe runs failed (see ${path.join(dir, 'manifest.json')}): reported as failed, never as the variant's absence`] : []),
    ],
  };
  await writeExplain(dir, explain);
  return { explain, finding, findings, dir, exitCode: status === 'complete' || status === 'budget-exhausted' ? EXIT.ok : EXIT.runsFailed };
}
