import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startProxy, type RunningProxy } from '../proxy/server.js';
import { caPaths, resolveCertsDir } from '../ca/index.js';
import { tagsIn, type SecretValues } from '../capture/secret-values.js';
import { redactLogValues } from '../log.js';
import { countLines, verifyAttribution } from './attribution.js';
import { prepareClock, removeFaketimeShm } from './clock.js';
import { execute, tail } from './execute.js';
import {
  createSandbox,
  detectNamespaces,
  isolatedEnv,
  launchCommand,
  redactEnv,
  SANDBOX_ROOT,
  type MachineMounts,
  type NamespaceSupport,
  type Sandbox,
} from './isolate.js';
import { homeMountLines, prepareMachine } from './machine.js';
import { setupMachine, type MachineSetup } from './machine-setup.js';
import type { MachinePlan } from './factors/index.js';
import type { Catalogue } from './factors/catalogue.js';
import { loadScenario, ScenarioError, validateScenario } from './scenario-file.js';
import { MANIFEST_VERSION, type Cell, type Manifest, type RunEntry } from './manifest.js';
import { ManifestStore } from './manifest-store.js';
import { expandMatrix, parseShard, selectShard, shardOf, type Matrix, type Shard } from './matrix.js';
import { readShardFile, shardLabel, writeShardFile } from './shards.js';
import { createProgress, type Progress } from './progress.js';
import { isInside, prepareAgent, type PreparedAgent } from './prepare-agent.js';
import { agentIdentity, resolvePaths, serializeScenario } from './resolve.js';
import { DEFAULT_BASE_URLS, hostnameOf, hostsFile, routeEnv } from './routing.js';
import { PROXY_URL_AXIS, type Scenario } from './schema.js';
import { runtimeVariableWarnings } from './env-names.js';
import { redactRunFiles } from './redact-run.js';
import { redactManifest, scenarioSecrets, type ScenarioSecrets } from './secrets.js';
import { scriptProblem, stubScriptOptions } from './stub-script.js';
import { toolVersion } from '../version.js';
import type { AgentEnvContext, InstallOptions } from '../agents/index.js';
import { EXIT } from '../errors.js';

export interface RunScenarioOptions {
  scenarioPath?: string;
  /** An already validated scenario (e.g. built in code); relative paths resolve against baseDir. */
  scenario?: Scenario;
  baseDir?: string;
  outDir: string;
  /** Overrides the scenario's `jobs`. */
  jobs?: number;
  /** Allow matrices above the scenario's max_runs. */
  yes?: boolean;
  /** Continue the run in outDir: completed (ok) runs are kept, every other run is (re)done. */
  resume?: boolean;
  /**
   * Files the caller keeps in outDir beside the run (an audit's audit.json, written before its first
   * run so that an audit killed in its first stage can be resumed): a new run may start beside them.
   */
  callerFiles?: readonly string[];
  /**
   * With resume: the scenario may add cells to an explicit design (the stored cells first, unchanged);
   * the new cells' runs are added and run. How a staged design (the audit) grows one run directory.
   */
  extend?: boolean;
  /**
   * "K/N": run only every N-th run starting at the K-th; the others stay pending. The directory
   * records its shard (shard.json): --resume finishes the same slice, `promptdiff merge` joins shards.
   */
  shard?: string;
  /** Where progress goes; default a bar or plain lines on stderr. */
  progress?: Progress;
  /** Aborting kills the running agents and stops; the manifest stays resumable. */
  signal?: AbortSignal;
  /** CA location passed to the proxy (default: ca/index.ts resolveCertsDir). */
  certsDir?: string;
  /**
   * Write secret values as they are (`--keep-secrets`): manifest, captures and the agent's output.
   * Default: each is replaced by a tag wherever it appears (src/scenario/secrets.ts). A resumed
   * directory keeps the policy it was made with.
   */
  keepSecrets?: boolean;
  /**
   * Resuming from the manifest alone: a scenario holding the same secret values, which puts back the
   * ones the manifest has as tags (the audit passes the scenario it was given).
   */
  secretSource?: Scenario;
  /** Test seam: something that behaves like the real proxy. */
  startProxy?: typeof startProxy;
  /** Where and how agent presets are installed (cache root, npm); defaults to the user's agent cache. */
  agentInstall?: InstallOptions;
  /** The factor catalogue to resolve `factors` against (default: the built-in one). */
  catalogue?: Catalogue;
  /**
   * Repetitions of a cell, at most the scenario's (default: the scenario's for every cell). A
   * region that varies within any cell is masked in all cells, so probe cells beside anchor cells
   * that keep the scenario's repetitions can run once each (how `promptdiff explain` probes).
   */
  repetitionsOf?: (cell: Cell) => number;
}

export interface RunScenarioResult {
  manifest: Manifest;
  /** 0 every selected run ok; 3 some run failed, timed out, errored or sent no traffic. */
  exitCode: typeof EXIT.ok | typeof EXIT.runsFailed;
  outDir: string;
  /** Ids of the runs done by this invocation (resume skips completed ones). */
  ran: string[];
  warnings: string[];
  /** Redacts secret values in what the caller prints (the manifest above holds them in clear). */
  secrets: SecretValues;
}

const UNATTRIBUTED_DIR = 'unattributed';


function pendingEntry(run: { id: string; cell: string; rep: number }): RunEntry {
  return {
    id: run.id,
    cell: run.cell,
    rep: run.rep,
    env: {},
    startedAt: null,
    endedAt: null,
    durationMs: null,
    exitCode: null,
    signal: null,
    status: 'pending',
    exchanges: 0,
  };
}

async function readExisting(outDir: string): Promise<Manifest | null> {
  return ManifestStore.read(outDir);
}

interface Picked {
  scenario: Scenario;
  file: string | null;
  secrets: ScenarioSecrets;
  /** The directory's manifest with the scenario's secret values put back (memory only). */
  existing: Manifest | null;
}

async function pickScenario(opts: RunScenarioOptions, stored: Manifest | null, outDir: string): Promise<Picked> {
  // A resumed directory keeps its policy: half its files tagged and half clear would help nobody.
  const keep = stored?.secrets ? stored.secrets.policy === 'kept' : Boolean(opts.keepSecrets);
  let given: Scenario | null = null;
  let file: string | null = null;
  if (opts.scenario) {
    given = resolvePaths(opts.scenario, path.resolve(opts.baseDir ?? process.cwd()));
  } else if (opts.scenarioPath) {
    const loaded = await loadScenario(opts.scenarioPath);
    given = resolvePaths(loaded.scenario, loaded.baseDir);
    file = loaded.file;
  }
  if (!given) {
    if (!stored) throw new ScenarioError('no scenario given: pass a scenario file (or --resume a run directory)');
    const where = path.join(outDir, 'manifest.json');
    const restored = opts.secretSource ? scenarioSecrets(opts.secretSource, keep).secrets.restore(stored) : stored;
    const left = tagsIn(restored.scenario);
    if (left.length) {
      const fields = stored.secrets?.fields.length ? stored.secrets.fields.join(', ') : left.join(', ');
      throw new ScenarioError(
        `${where}: the scenario's secret values were not written down (${fields}): resume with the scenario file,  promptdiff run SCENARIO --resume ${outDir}`,
      );
    }
    const scenario = validateScenario(restored.scenario, where);
    return { scenario, file: stored.scenarioFile, secrets: scenarioSecrets(scenario, keep), existing: restored };
  }
  const secrets = scenarioSecrets(given, keep);
  const existing = stored ? secrets.secrets.restore(stored) : null;
  if (existing && opts.extend) {
    checkExtension(existing, given, outDir);
  } else if (existing && JSON.stringify(serializeScenario(given)) !== JSON.stringify(existing.scenario)) {
    throw new ScenarioError(
      `${outDir}: the scenario changed since this run started; resume without a scenario file (the manifest has it) or use a new output directory`,
    );
  }
  return { scenario: given, file: file ?? existing?.scenarioFile ?? null, secrets, existing };
}

/**
 * An extended scenario may differ from the stored one only by cells added after the stored ones
 * and by values appended to its axes and factors (a staged design meets new values as it goes).
 */
function checkExtension(existing: Manifest, scenario: Scenario, outDir: string): void {
  type Stored = { design?: unknown; axes?: Record<string, unknown[]>; factors?: Record<string, unknown[]> };
  const stored = existing.scenario as Stored;
  const next = serializeScenario(scenario) as Stored;
  const { design: a, axes: axesA = {}, factors: factorsA = {}, ...restA } = stored;
  const { design: b, axes: axesB = {}, factors: factorsB = {}, ...restB } = next;
  const cellsOf = (d: unknown) => (typeof d === 'object' && d !== null && 'cells' in d ? (d as { cells: unknown[] }).cells : null);
  const isPrefix = (x: unknown[] | null, y: unknown[] | null | undefined) =>
    x !== null && y !== null && y !== undefined && y.length >= x.length && JSON.stringify(y.slice(0, x.length)) === JSON.stringify(x);
  const grown = (x: Record<string, unknown[]>, y: Record<string, unknown[]>) =>
    JSON.stringify(Object.keys(x)) === JSON.stringify(Object.keys(y)) && Object.entries(x).every(([k, v]) => isPrefix(v, y[k]));
  const prefix = isPrefix(cellsOf(a), cellsOf(b));
  if (JSON.stringify(restA) !== JSON.stringify(restB) || !prefix || !grown(axesA, axesB) || !grown(factorsA, factorsB)) {
    throw new ScenarioError(`${outDir}: can only extend a run directory with cells added after its own (same scenario otherwise)`);
  }
}

/**
 * The shard to run: the one given, or on --resume the one the directory recorded (a different one is
 * refused: the directory's other runs belong to other machines).
 */
async function pickShard(given: string | undefined, existingDir: string | null): Promise<Shard | null> {
  const wanted = given ? parseShard(given) : null;
  const recorded = existingDir ? await readShardFile(existingDir) : null;
  if (!recorded) return wanted;
  if (wanted && shardLabel(wanted) !== recorded.shard) {
    throw new ScenarioError(`${existingDir} holds shard ${recorded.shard}, not ${shardLabel(wanted)}: resume it without --shard, or use a new output directory`);
  }
  return { index: recorded.index, count: recorded.count };
}

/** Hostnames the private hosts file maps to 127.0.0.1: proxy URLs, and base URLs in reverse route. */
function routedHostnames(scenario: Scenario, agent: PreparedAgent): string[] {
  if (scenario.route === 'forward') return (scenario.proxy_urls ?? []).map(hostnameOf);
  const bases = scenario.axes[agent.baseUrlVar] ?? [scenario.env.set[agent.baseUrlVar] ?? DEFAULT_BASE_URLS[agent.dialect]];
  return bases.map(hostnameOf);
}

function hint(scenario: Scenario, agent: PreparedAgent, status: RunEntry['status']): string {
  switch (status) {
    case 'no-traffic':
      return scenario.route === 'forward'
        ? 'is HTTPS_PROXY honoured by the agent? try route: reverse (the base URL then points at the proxy)'
        : `does the agent read ${agent.baseUrlVar}? set agent.base_url_var, or try route: forward`;
    case 'timeout':
      return 'raise timeout: in the scenario, or check whether the agent waits for input (its stdin is closed)';
    default:
      return '';
  }
}

interface RunContext {
  scenario: Scenario;
  agent: PreparedAgent;
  ns: NamespaceSupport;
  clockEnv: Record<string, string>;
  machine: MachineSetup;
  cells: Map<string, Cell>;
  proxy: RunningProxy;
  store: ManifestStore;
  outDir: string;
  scratch: string;
  hosts: string;
  progress: Progress;
  signal?: AbortSignal;
  secrets: SecretValues;
  /** Host directories every run's namespace covers with an empty tmpfs. */
  hide: string[];
}

/** Beside the run's sandbox, never inside what the agent sees. */
const MACHINE_SUFFIX = '.machine';

/** The run's machine in its private files, and the wrapper's mount steps (nothing without namespaces). */
async function prepareMounts(ctx: RunContext, plan: MachinePlan, sandbox: Sandbox, realHome: string): Promise<MachineMounts> {
  if (!ctx.ns.available || !ctx.ns.mount) {
    // Without namespaces only variables can vary: factors needing more were skipped at set-up.
    await prepareMachine({
      plan: { ...plan, etc: {}, overlays: {}, hostname: undefined, user: undefined },
      support: { ...ctx.machine.support, etcView: null },
      machineDir: `${sandbox.dir}${MACHINE_SUFFIX}`,
      realHome,
      realWork: path.join(sandbox.dir, 'work'),
      home: sandbox.home,
      hosts: ctx.hosts,
      mount: 'mount',
    });
    return { mountLines: [], homeLines: [], unshareFlags: [] };
  }
  const prepared = await prepareMachine({
    plan,
    support: ctx.machine.support,
    machineDir: `${sandbox.dir}${MACHINE_SUFFIX}`,
    realHome,
    realWork: path.join(sandbox.dir, 'work'),
    home: sandbox.home,
    hosts: ctx.hosts,
    mount: ctx.ns.mount,
  });
  return {
    mountLines: prepared.mountLines,
    homeLines: plan.user ? homeMountLines(ctx.ns.mount, realHome, sandbox.home) : [],
    unshareFlags: prepared.unshareFlags,
    hide: ctx.hide,
  };
}

async function runOne(ctx: RunContext, planned: RunEntry): Promise<RunEntry> {
  const { scenario, agent, proxy } = ctx;
  const runDir = path.join(ctx.outDir, 'runs', planned.id);
  const entry: RunEntry = { ...pendingEntry(planned), status: 'error' };
  const sandboxDir = path.join(ctx.scratch, planned.id);
  let listening = false;
  try {
    await rm(runDir, { recursive: true, force: true });
    await mkdir(runDir, { recursive: true });
    const cell = ctx.cells.get(planned.cell);
    if (!cell) throw new Error(`cell ${planned.cell} is not in the manifest`);
    const { [PROXY_URL_AXIS]: cellProxyUrl, ...rest } = cell.values;
    // Variables are the axes that are not factors (factor names have dots; variable names cannot).
    const cellEnv = Object.fromEntries(Object.entries(rest).filter(([name]) => !ctx.machine.factors.has(name)));
    const plan = ctx.machine.plans.get(planned.cell);
    if (!plan) throw new Error(`cell ${planned.cell} has no machine plan`);
    const userHome = plan.user ? `/home/${plan.user.name}` : undefined;
    const sandbox = await createSandbox({
      dir: sandboxDir,
      namespaces: ctx.ns.available,
      workspace: scenario.workspace,
      caCertPath: proxy.caCertPath,
      homePath: userHome,
    });
    const realHome = path.join(sandbox.dir, 'home');
    const listener = await proxy.addRunListener(planned.id, runDir, { workDir: sandbox.work });
    listening = true;
    const baseUrl = cellEnv[agent.baseUrlVar] ?? plan.baseUrl ?? scenario.env.set[agent.baseUrlVar];
    const routing = routeEnv({
      route: scenario.route,
      proxyUrl: cellProxyUrl ?? plan.proxyUrl,
      baseUrlVar: agent.baseUrlVar,
      baseUrl,
      listenerPort: listener.port,
      defaultBaseUrl: DEFAULT_BASE_URLS[agent.dialect],
      hostsMapped: ctx.ns.available,
      caCertPath: sandbox.caCertPath,
    });
    // The preset sees the run's real route: the proxy URL string with the listener's port (forward),
    // the base URL pointing at the listener (reverse), and the CA where the agent will find it.
    const agentCtx: AgentEnvContext = {
      route: scenario.route,
      proxyUrl: routing.HTTPS_PROXY ?? `http://127.0.0.1:${listener.port}`,
      caCertPath: sandbox.caCertPath,
      ...(scenario.route === 'reverse' ? { baseUrl: routing[agent.baseUrlVar] } : baseUrl ? { baseUrl } : {}),
    };
    // The real directory: the agent sees it as sandbox.home once the namespace has mounted it. After
    // the route is known (config files may hold the base URL), before the machine's files go in.
    await agent.prepareHome(realHome, agentCtx);
    const mounts = await prepareMounts(ctx, plan, sandbox, realHome);
    const command = agent.command(agentCtx);
    const machineEnv = { ...plan.env, ...(plan.baseUrl ? { [agent.baseUrlVar]: plan.baseUrl } : {}) };
    const env = isolatedEnv({
      caller: process.env,
      allow: scenario.env.allow,
      set: scenario.env.set,
      cell: cellEnv,
      preset: agent.env(agentCtx),
      machine: machineEnv,
      unset: plan.unsetEnv,
      routing,
      clock: plan.clock ? ctx.machine.clocks.get(plan.clock)!.env : ctx.clockEnv,
      sandbox,
      namespaces: ctx.ns.available,
    });
    entry.env = redactEnv(env, ctx.secrets);
    ctx.progress.runStarted(planned.id);
    const stderrPath = path.join(runDir, 'stderr.txt');
    const launch = launchCommand(command, sandbox, ctx.ns, mounts);
    const result = await execute({
      launch,
      env: launch.env(env),
      stdoutPath: path.join(runDir, 'stdout.txt'),
      stderrPath,
      timeoutMs: scenario.timeout,
      signal: ctx.signal,
    });
    // Without a namespace the agent's clock pin leaves libfaketime's segment on the host's /dev/shm.
    if (launch.sharedMemory === 'host' && env.LD_PRELOAD) removeFaketimeShm(result.pid);
    await proxy.removeRunListener(planned.id);
    listening = false;
    const attribution = await verifyAttribution(runDir, planned.id, proxy.exchangeCount(planned.id));
    // After the count is checked: what the agent copied a secret into is rewritten with its tag.
    await redactRunFiles(runDir, ctx.secrets);
    const unscripted = scenario.stub_script ? await scriptProblem(runDir, scenario.stub_script) : null;
    Object.assign(entry, {
      startedAt: result.startedAt.toISOString(),
      endedAt: result.endedAt.toISOString(),
      durationMs: result.endedAt.getTime() - result.startedAt.getTime(),
      exitCode: result.exitCode,
      signal: result.signal,
      exchanges: attribution.count,
    });
    const stderrTail = async () => {
      const text = await tail(stderrPath, 800);
      return text ? `\n--- agent stderr (tail) ---\n${text}` : '\n(the agent wrote nothing to stderr)';
    };
    const exited = result.exitCode === null ? `killed by ${result.signal}` : `exit code ${result.exitCode}`;
    if (result.spawnError) {
      entry.status = 'error';
      entry.message = `could not start ${command[0]}: ${result.spawnError}`;
    } else if (ctx.signal?.aborted) {
      entry.status = 'error';
      entry.message = 'interrupted';
    } else if (attribution.problems.length > 0) {
      entry.status = 'error';
      entry.message = `exchange attribution failed: ${attribution.problems.join('; ')}`;
    } else if (result.timedOut) {
      entry.status = 'timeout';
      entry.message = `no exit after ${scenario.timeout} ms; process group killed (${hint(scenario, agent, 'timeout')})${await stderrTail()}`;
    } else if (attribution.count === 0) {
      entry.status = 'no-traffic';
      entry.message = `agent sent no traffic through the proxy (${exited}): ${hint(scenario, agent, 'no-traffic')}${await stderrTail()}`;
    } else if (unscripted) {
      // Whatever the exit code: a run that did not play its script did not test what it was meant to.
      entry.status = 'error';
      entry.message = `${unscripted} (${exited})${await stderrTail()}`;
    } else if (result.exitCode !== 0) {
      entry.status = 'failed';
      entry.message = `agent failed (${exited})${await stderrTail()}`;
    } else {
      entry.status = 'ok';
    }
  } catch (err) {
    entry.status = 'error';
    entry.message = `runner error: ${(err as Error).message}`;
  } finally {
    // The message carries the agent's stderr tail: printed and stored, so never with a secret in it.
    if (entry.message !== undefined) entry.message = ctx.secrets.text(entry.message);
    if (listening) await proxy.removeRunListener(planned.id).catch(() => undefined);
    await rm(sandboxDir, { recursive: true, force: true }).catch(() => undefined);
    await rm(`${sandboxDir}${MACHINE_SUFFIX}`, { recursive: true, force: true }).catch(() => undefined);
  }
  await ctx.store.updateRun(entry);
  ctx.progress.runDone(entry);
  return entry;
}

/** The stored manifest with the extended scenario's new cells and their pending runs appended. */
function extendManifest(
  existing: Manifest,
  scenario: Scenario,
  matrix: Matrix,
  isolation: NonNullable<Manifest['isolation']>,
  factors: Manifest['factors'],
): Manifest {
  const known = new Map(existing.cells.map((c) => [c.id, JSON.stringify(c.values)]));
  for (const cell of matrix.cells.slice(0, existing.cells.length)) {
    if (known.get(cell.id) !== JSON.stringify(cell.values)) throw new ScenarioError(`cell ${cell.id} changed while extending the run directory`);
  }
  const added = new Set(matrix.cells.slice(existing.cells.length).map((c) => c.id));
  return {
    ...existing,
    scenario: serializeScenario(scenario),
    axes: matrix.axes,
    cells: matrix.cells,
    runs: [...existing.runs, ...matrix.runs.filter((r) => added.has(r.cell)).map(pendingEntry)],
    isolation,
    // Values appended to a factor are recorded with the others (what each shows, for echoes).
    ...(existing.factors ? { factors } : {}),
  };
}

/** Closing must not be able to hang the CLI: a stuck socket is abandoned after a few seconds. */
async function closeProxy(proxy: RunningProxy): Promise<void> {
  await Promise.race([proxy.close(), new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
}

/**
 * Runs a scenario: expands the matrix, starts one proxy with a listener per run, runs the agent in
 * every cell × repetition in isolation, and writes the run directory (manifest.ts).
 */
export async function runScenario(opts: RunScenarioOptions): Promise<RunScenarioResult> {
  const outDir = path.resolve(opts.outDir);
  const stored = await readExisting(outDir);
  if (stored && !opts.resume) {
    throw new ScenarioError(`${outDir} already holds a run (manifest.json): pass --resume to finish it, or choose another output directory`);
  }
  if (!stored) {
    const entries = (await readdir(outDir).catch(() => [])).filter((e) => !opts.callerFiles?.includes(e));
    if (entries.length > 0) throw new ScenarioError(`${outDir} exists and is not empty: choose another output directory`);
  }
  if (opts.extend && (!opts.resume || opts.shard)) throw new ScenarioError('extend needs resume and cannot be sharded');
  const { scenario, file, secrets: scenarioSecretSet, existing } = await pickScenario(opts, stored, outDir);
  const secrets = scenarioSecretSet.secrets;
  const shard = await pickShard(opts.shard, existing ? outDir : null);
  agentIdentity(scenario); // an unknown preset or a missing task fails here, before any install
  expandMatrix(scenario, { yes: opts.yes }); // too large a matrix fails here too
  const jobs = opts.jobs ?? scenario.jobs;
  if (!Number.isInteger(jobs) || jobs < 1) throw new ScenarioError(`--jobs ${jobs}: expected a positive integer`);
  const progress = opts.progress ?? createProgress(process.stderr);

  // Once, before any agent starts: a cache hit takes milliseconds, a first install a download.
  const agent = await prepareAgent(scenario, {
    existing: existing?.agent,
    install: { ...opts.agentInstall, onProgress: opts.agentInstall?.onProgress ?? ((line) => progress.warn(line)) },
  });
  const [ns, clock] = await Promise.all([detectNamespaces(), prepareClock(scenario.clock, process.env.PATH)]);
  if (ns.available && agent.installed && isInside(agent.installed.dir, SANDBOX_ROOT)) {
    throw new ScenarioError(
      `the agent cache ${agent.installed.dir} lies under ${SANDBOX_ROOT}, which every run's sandbox hides: set PROMPTDIFF_AGENT_CACHE to another directory`,
    );
  }
  const warnings: string[] = [];
  if (!ns.available) {
    warnings.push(
      `isolation without namespaces (${ns.detail}): each run gets its own HOME and working-directory path (expect path noise), proxy/base URL hostnames are replaced by 127.0.0.1, and the agent runs as you, so it could read the CA's private key`,
    );
  }
  if (scenario.clock !== 'real' && !clock.pinned) warnings.push(clock.detail);
  warnings.push(...runtimeVariableWarnings({ 'env.set': Object.keys(scenario.env.set), axes: Object.keys(scenario.axes), 'env.allow': scenario.env.allow }));
  const where = file ?? (existing ? path.join(outDir, 'manifest.json') : 'scenario');
  const machine = await setupMachine({ scenario, existing, ns, dialect: agent.dialect, where, catalogue: opts.catalogue });
  for (const s of machine.skipped) warnings.push(`factor ${s.factor} skipped: ${s.reason}`);
  const matrix = expandMatrix(scenario, { yes: opts.yes, skipped: machine.skipped.map((s) => s.factor) });
  if (opts.repetitionsOf) {
    const cellOf = new Map(matrix.cells.map((c) => [c.id, c]));
    matrix.runs = matrix.runs.filter((r) => r.rep <= opts.repetitionsOf!(cellOf.get(r.cell)!));
  }
  machine.planCells(existing && !opts.extend ? existing.cells : matrix.cells);

  const isolation = {
    namespaces: ns.available,
    samePaths: ns.available,
    sandboxRoot: ns.available ? SANDBOX_ROOT : null,
    clock: { requested: clock.requested, pinned: clock.pinned, detail: clock.detail },
    warnings,
    // A directory from before machine factors keeps describing the host's machine as it was.
    ...(existing && !existing.factors ? {} : { machine: machine.isolation }),
  };
  const manifest: Manifest = existing
    ? opts.extend
      ? extendManifest(existing, scenario, matrix, isolation, machine.definitions)
      : { ...existing, isolation }
    : {
        v: MANIFEST_VERSION,
        tool: { name: 'promptdiff', version: toolVersion() },
        createdAt: new Date().toISOString(),
        scenarioFile: file,
        scenario: serializeScenario(scenario),
        agent: agent.identity,
        axes: matrix.axes,
        factors: machine.definitions,
        cells: matrix.cells,
        runs: matrix.runs.map((run, i) => {
          const entry = pendingEntry(run);
          // Runs of other shards stay pending; say so for whoever reads (or diffs) this directory alone.
          if (shard && shardOf(i, shard.count) !== shard.index) entry.message = `left to shard ${shardOf(i, shard.count)}/${shard.count}`;
          return entry;
        }),
        expect: scenario.expect,
        isolation,
      };
  const store = new ManifestStore(outDir, manifest, (m) => redactManifest(m, scenarioSecretSet));
  const slice = selectShard(manifest.runs, shard ? shardLabel(shard) : undefined);
  // shard.json first: a shard directory must never look like a whole run (resume would run it all).
  if (shard && !existing) await writeShardFile(outDir, shard, slice.map((r) => r.id));
  await store.save();
  // Not in `warnings`: that array is the manifest's isolation.warnings, which merge carries over.
  const shardNotes: string[] = [];
  if (shard) {
    shardNotes.push(
      `${outDir} is shard ${shardLabel(shard)} (${slice.length} of ${manifest.runs.length} runs): diff it only after joining all ${shard.count} shards with  promptdiff merge OUT DIR...`,
    );
  }

  const todo = slice.filter((r) => r.status !== 'ok');
  // One parent for every runner's scratch, so a run's wrapper can hide all of them at once.
  const scratchParent = path.join(os.tmpdir(), 'promptdiff-runs');
  await mkdir(scratchParent, { recursive: true, mode: 0o700 });
  const scratch = await mkdtemp(path.join(scratchParent, 'r-'));
  const hosts = hostsFile([...routedHostnames(scenario, agent), ...machine.routedHostnames(scenario.route)]);
  const certsDir = resolveCertsDir(opts.certsDir).dir;
  const proxy = await (opts.startProxy ?? startProxy)({
    outDir: path.join(outDir, UNATTRIBUTED_DIR),
    upstream: scenario.upstream,
    upstreamUrl: scenario.upstream_url,
    passthroughOnly: scenario.passthrough_only,
    stubText: scenario.stub_text,
    ...(scenario.stub_script ? { stubScript: stubScriptOptions(scenario.stub_script, agent.preset?.name ?? null) } : {}),
    certsDir,
    keepSecrets: scenarioSecretSet.keep,
    secrets: scenarioSecretSet.secrets,
  }).catch(async (err: unknown) => {
    // A CA the proxy refuses (CaDirError) or a port it cannot bind: no scratch left behind.
    await rm(scratch, { recursive: true, force: true });
    throw err;
  });
  const caKeys = path.dirname(caPaths(certsDir).keyPath);
  const ctx: RunContext = {
    scenario,
    agent,
    ns,
    clockEnv: clock.env,
    machine,
    cells: new Map(manifest.cells.map((c) => [c.id, c])),
    proxy,
    store,
    outDir,
    scratch,
    hosts,
    progress,
    signal: opts.signal,
    secrets,
    // The runs' scratch, and the CA's private keys: every client of the proxy trusts that CA
    // (a stand-in proxy may have made none).
    hide: [scratchParent, ...(existsSync(caKeys) ? [caKeys] : [])],
  };
  const results: RunEntry[] = [];
  const unlog = redactLogValues(secrets);
  try {
    const skipped = manifest.runs.length - todo.length;
    progress.start(
      todo.length,
      `${todo.length} run${todo.length === 1 ? '' : 's'} of ${matrix.cells.length} cells × ${scenario.repetitions} repetitions` +
        `${skipped ? ` (${skipped} already done or in other shards)` : ''}, ${Math.min(jobs, Math.max(todo.length, 1))} at a time; ` +
        `route ${scenario.route}, upstream ${scenario.upstream} → ${outDir}`,
    );
    for (const w of [...warnings, ...shardNotes]) progress.warn(w);
    const queue = [...todo];
    const worker = async () => {
      for (let next = queue.shift(); next && !opts.signal?.aborted; next = queue.shift()) results.push(await runOne(ctx, next));
    };
    await Promise.all(Array.from({ length: Math.min(jobs, Math.max(queue.length, 1)) }, worker));
  } finally {
    await closeProxy(proxy);
    await rm(scratch, { recursive: true, force: true });
    progress.end();
    unlog();
  }

  const stray = await countLines(path.join(outDir, UNATTRIBUTED_DIR, 'exchanges.jsonl'));
  if (stray > 0) {
    await redactRunFiles(path.join(outDir, UNATTRIBUTED_DIR), secrets, ['exchanges.jsonl']);
    const w = `${stray} exchange(s) reached the proxy outside any run listener: see ${UNATTRIBUTED_DIR}/exchanges.jsonl`;
    warnings.push(w);
    progress.warn(w);
    await store.save();
  } else {
    await rm(path.join(outDir, UNATTRIBUTED_DIR), { recursive: true, force: true });
  }
  const allOk = results.length === todo.length && results.every((r) => r.status === 'ok');
  return { manifest, exitCode: allOk ? EXIT.ok : EXIT.runsFailed, outDir, ran: results.map((r) => r.id), warnings: [...warnings, ...shardNotes], secrets };
}
