import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
  AGENT_PRESETS,
  AgentInstallError,
  agentPreset,
  compareVersions,
  isExactVersion,
  nearestVersions,
  publishedVersions,
  resolveVersion,
  type AgentPreset,
  type InstallOptions,
} from '../agents/index.js';
import { diffRunDir, writeFindings, type Findings } from '../diff/index.js';
import { ScenarioError } from '../scenario/scenario-file.js';
import { ManifestStore } from '../scenario/manifest-store.js';
import { scenarioSecrets } from '../scenario/secrets.js';
import { silentProgress, type Progress } from '../scenario/progress.js';
import { resolvePaths, serializeScenario } from '../scenario/resolve.js';
import { runScenario } from '../scenario/runner.js';
import type { Scenario } from '../scenario/schema.js';
import { toolVersion } from '../version.js';
import { compareSignatures, fingerprint, sameSignatures, type Fingerprint } from './fingerprint.js';
import { BISECT_FORMAT, BISECT_VERSION, type BisectReport, type ChangedFinding, type ProbeRecord, type Transition } from './schema.js';
import { EXIT } from '../errors.js';

export { BISECT_FILE, BisectReportSchema, type BisectReport, type ChangedFinding, type ProbeRecord, type Transition } from './schema.js';
export { findingAtoms, fingerprint, normaliseFieldPath, type Atom, type Fingerprint } from './fingerprint.js';

/**
 * `promptdiff bisect`: which release of an agent first sends different environment-dependent bytes.
 * Every probe is a whole scenario run of one version into OUT/<version>/ (kept: a probe directory is
 * an ordinary run directory, reproducible and diffable alone), followed by a diff; versions are
 * compared by the fingerprint of their findings (fingerprint.ts). Probe directories that completed
 * are reused by a later bisect with the same OUT, so an interrupted or widened bisect costs only the
 * probes it has not run yet; installs come from the agent cache.
 */

export interface BisectOptions {
  /** The validated scenario; its agent must be a preset (or `agent` names one). */
  scenario: Scenario;
  /** Relative paths in the scenario resolve against this (the scenario file's directory). */
  baseDir: string;
  /** Preset to use instead of the scenario's own (`--agent`). */
  agent?: string;
  /** Oldest version (exact, a dist-tag or a range). */
  from: string;
  /** Newest version (exact, a dist-tag or a range); default `latest`. */
  to?: string;
  includePrereleases?: boolean;
  /** Probe every version instead of bisecting (finds every change, not one). */
  linear?: boolean;
  outDir: string;
  /** Where and how versions are installed; also used to list the registry's versions. */
  install?: InstallOptions;
  jobs?: number;
  yes?: boolean;
  certsDir?: string;
  /** Progress of each probe's runs. */
  progress?: Progress;
  /** One line per step, for a user. */
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export interface ProbeResult {
  record: ProbeRecord;
  findings: Findings | null;
  fp: Fingerprint | null;
}

export interface BisectResult {
  /** 0 found a version whose findings differ from its predecessor's; 1 none in the range; 3 a probe's runs failed (or interrupted). */
  exitCode: typeof EXIT.ok | typeof EXIT.findings | typeof EXIT.runsFailed;
  report: BisectReport;
  file: string;
  /** Per probed version, its findings (null for a failed probe). */
  probes: Map<string, ProbeResult>;
}

export function isPrerelease(v: string): boolean {
  return /^\d+\.\d+\.\d+-/.test(v.replace(/^v/, ''));
}

/** The versions from..to inclusive, oldest first; prereleases only when asked (or when an endpoint is one). */
export function selectVersions(all: readonly string[], from: string, to: string, includePrereleases = false): string[] {
  return [...new Set(all)]
    .filter((v) => isExactVersion(v))
    .filter((v) => compareVersions(v, from) >= 0 && compareVersions(v, to) <= 0)
    .filter((v) => includePrereleases || !isPrerelease(v) || v === from || v === to)
    .sort(compareVersions);
}

/** Probes binary search needs at most over n versions: both ends, then ⌈log2(n−1)⌉ halvings. */
export function maxProbes(n: number, linear = false): number {
  if (linear || n <= 2) return n;
  return 2 + Math.ceil(Math.log2(n - 1));
}

/** A preset scenario pinned to one version (and preset, for --agent). */
export function scenarioForVersion(scenario: Scenario, preset: string, version: string): Scenario {
  const { agent } = scenario;
  if ('command' in agent) throw new ScenarioError('bisect needs a preset agent');
  return { ...scenario, agent: { ...agent, preset, version } };
}

function presetFor(scenario: Scenario, override: string | undefined): AgentPreset {
  const { agent } = scenario;
  const name = override ?? ('preset' in agent ? agent.preset : undefined);
  if (!name) {
    throw new ScenarioError(
      `bisect needs an agent preset: the scenario runs a plain command (agent.command). Give it \`agent: {preset: NAME, args: ["task"]}\`` +
        ` (presets: ${Object.keys(AGENT_PRESETS).join(', ')})`,
    );
  }
  if ('command' in agent) {
    throw new ScenarioError(
      `--agent ${name}: the scenario runs a plain command (agent.command), whose arguments are not a preset's; write \`agent: {preset: ${name}, args: ["task"]}\` in the scenario instead`,
    );
  }
  return agentPreset(name, override ? '--agent' : 'agent.preset');
}

function cleanSpec(spec: string): string {
  return spec.trim().replace(/^[=v]+(?=\d)/, '');
}

async function resolveEndpoint(which: '--from' | '--to', s: string, preset: AgentPreset, all: readonly string[], install: InstallOptions): Promise<string> {
  if (isExactVersion(s)) {
    if (all.includes(s)) return s;
    const near = nearestVersions([...all], s);
    throw new ScenarioError(
      `${which} ${s}: ${preset.npmPackage}@${s} is not a published version` + (near.length > 0 ? ` (nearest published: ${near.join(', ')})` : ''),
    );
  }
  try {
    return await resolveVersion(preset.npmPackage, s, install);
  } catch (err) {
    if (err instanceof AgentInstallError) throw new ScenarioError(`${which} ${s}: ${err.message}`);
    throw err;
  }
}

function describeChanged(fp: Fingerprint, signature: string): ChangedFinding {
  const { atom, finding } = fp.examples.get(signature)!;
  return {
    signature,
    class: atom.class,
    path: atom.path,
    axes: atom.axes,
    values: atom.values,
    removed: atom.removed,
    added: atom.added,
    findingId: finding.id,
    findingClass: finding.class,
    summary: finding.summary,
  };
}

function transition(before: ProbeResult, after: ProbeResult): Transition {
  const { appeared, disappeared } = compareSignatures(before.fp!.signatures, after.fp!.signatures);
  return {
    version: after.record.version,
    predecessor: before.record.version,
    appeared: appeared.map((s) => describeChanged(after.fp!, s)),
    disappeared: disappeared.map((s) => describeChanged(before.fp!, s)),
  };
}

/** The plan line: which versions are probed first (the rest depend on what those show). */
export function planText(versions: readonly string[], linear: boolean): string {
  const n = versions.length;
  if (linear) return `linear: probe all ${n} versions, oldest first`;
  if (n <= 2) return `probe both versions (${versions.join(', ')})`;
  const mid = versions[(n - 1) >> 1]!;
  return `binary search: at most ${maxProbes(n)} probes — ${versions[0]} and ${versions[n - 1]} first, then ${mid}, then halves of the side that differs`;
}

async function writeReport(outDir: string, report: BisectReport): Promise<string> {
  const file = BISECT_FORMAT.pathIn(outDir);
  await BISECT_FORMAT.write(file, report);
  return file;
}

export async function bisect(opts: BisectOptions): Promise<BisectResult> {
  const log = opts.log ?? (() => undefined);
  const install = opts.install ?? {};
  const outDir = path.resolve(opts.outDir);
  const preset = presetFor(opts.scenario, opts.agent);
  if (opts.agent && 'preset' in opts.scenario.agent && opts.scenario.agent.preset !== preset.name) {
    log(`--agent ${preset.name} replaces the scenario's preset ${opts.scenario.agent.preset} (its args are kept)`);
  }
  const base = resolvePaths(opts.scenario, path.resolve(opts.baseDir));
  if (base.repetitions < 2) {
    log(`warning: repetitions: ${base.repetitions}: without a second run per cell noise reads as findings, and bisect would chase it; use at least 2`);
  }

  // Checked before asking the registry (a round trip of seconds) when both ends are exact.
  const [fromSpec, toSpec] = [opts.from, opts.to ?? 'latest'].map(cleanSpec) as [string, string];
  if (isExactVersion(fromSpec) && isExactVersion(toSpec) && compareVersions(fromSpec, toSpec) >= 0) {
    throw new ScenarioError(`--from ${fromSpec} must be older than --to ${toSpec}`);
  }
  let all: string[];
  try {
    all = await publishedVersions(preset.npmPackage, install);
  } catch (err) {
    if (err instanceof AgentInstallError) throw new ScenarioError(`cannot list the versions of ${preset.npmPackage}: ${err.message}`);
    throw err;
  }
  if (all.length === 0) throw new ScenarioError(`${preset.npmPackage}: the registry lists no versions`);
  const from = await resolveEndpoint('--from', fromSpec, preset, all, install);
  const to = await resolveEndpoint('--to', toSpec, preset, all, install);
  if (compareVersions(from, to) >= 0) throw new ScenarioError(`--from ${from} must be older than --to ${to}`);
  const includePrereleases = Boolean(opts.includePrereleases);
  const versions = selectVersions(all, from, to, includePrereleases);
  const skippedPre = includePrereleases ? 0 : selectVersions(all, from, to, true).length - versions.length;
  const linear = Boolean(opts.linear);
  log(
    `${preset.name} (${preset.npmPackage}) ${from} … ${to}: ${versions.length} released versions` +
      (skippedPre > 0 ? ` (${skippedPre} prerelease${skippedPre === 1 ? '' : 's'} left out; --include-prereleases adds ${skippedPre === 1 ? 'it' : 'them'})` : ''),
  );
  log(`versions: ${versions.length <= 24 ? versions.join(' ') : `${versions.slice(0, 10).join(' ')} … ${versions.slice(-10).join(' ')}`}`);
  log(`plan: ${planText(versions, linear)}; each probe runs the scenario into ${outDir}/<version>/`);

  await mkdir(outDir, { recursive: true });
  const probes = new Map<string, ProbeResult>();
  const order: ProbeRecord[] = [];
  const budget = maxProbes(versions.length, linear);

  const probe = async (index: number): Promise<ProbeResult> => {
    const version = versions[index]!;
    const known = probes.get(version);
    if (known) return known;
    const result = await runProbe({ ...opts, outDir, base, preset: preset.name, version, index, install });
    probes.set(version, result);
    order.push(result.record);
    // A bisect that is stopped or crashes still leaves the probes it ran on record.
    await writeReport(outDir, reportOf('running', null));
    const r = result.record;
    const what =
      r.status === 'ok'
        ? `${r.findings} finding${r.findings === 1 ? '' : 's'} [${r.fingerprint}]${r.reused ? ' (reused)' : ''}`
        : `runs failed: ${r.message ?? ''}`;
    log(`probe ${order.length}/≤${budget}  ${version.padEnd(Math.max(...versions.map((v) => v.length)))}  ${what}`);
    return result;
  };

  const notes: string[] = [];
  const createdAt = new Date().toISOString();
  const reportOf = (outcome: BisectReport['outcome'], first: Transition | null, transitions?: Transition[]): BisectReport => ({
    v: BISECT_VERSION,
    tool: { name: 'promptdiff', version: toolVersion() },
    createdAt,
    scenario: base.name,
    preset: preset.name,
    npmPackage: preset.npmPackage,
    from,
    to,
    includePrereleases,
    mode: linear ? 'linear' : 'binary',
    versions,
    maxProbes: budget,
    probes: order,
    outcome,
    first,
    ...(transitions ? { transitions } : {}),
    notes,
  });
  const finish = async (outcome: BisectReport['outcome'], first: Transition | null, transitions?: Transition[]): Promise<BisectResult> => {
    const report = reportOf(outcome, first, transitions);
    const file = await writeReport(outDir, report);
    const exitCode = outcome === 'found' ? EXIT.ok : outcome === 'no-difference' ? EXIT.findings : EXIT.runsFailed;
    return { exitCode, report, file, probes };
  };
  const failed = (r: ProbeResult) => r.record.status !== 'ok';
  const stop = () => Boolean(opts.signal?.aborted);

  if (linear) {
    const transitions: Transition[] = [];
    let prev: ProbeResult | null = null;
    for (let i = 0; i < versions.length; i++) {
      if (stop()) return finish('interrupted', transitions[0] ?? null, transitions);
      const cur = await probe(i);
      if (failed(cur)) return finish(stop() ? 'interrupted' : 'probe-failed', transitions[0] ?? null, transitions);
      if (prev && !sameSignatures(prev.fp!.signatures, cur.fp!.signatures)) transitions.push(transition(prev, cur));
      prev = cur;
    }
    if (transitions.length === 0) return finish('no-difference', null, transitions);
    return finish('found', transitions[0]!, transitions);
  }

  const a = await probe(0);
  if (failed(a)) return finish(stop() ? 'interrupted' : 'probe-failed', null);
  const b = await probe(versions.length - 1);
  if (failed(b)) return finish(stop() ? 'interrupted' : 'probe-failed', null);
  if (sameSignatures(a.fp!.signatures, b.fp!.signatures)) {
    if (versions.length > 2) {
      notes.push(
        `${from} and ${to} have the same findings; a change that appeared and went again between them is invisible to binary search: --linear probes every version`,
      );
    }
    return finish('no-difference', null);
  }
  let lo = 0;
  let hi = versions.length - 1;
  while (hi - lo > 1) {
    if (stop()) return finish('interrupted', null);
    const mid = (lo + hi) >> 1;
    const m = await probe(mid);
    if (failed(m)) return finish(stop() ? 'interrupted' : 'probe-failed', null);
    if (sameSignatures(m.fp!.signatures, a.fp!.signatures)) lo = mid;
    else hi = mid;
  }
  if (versions.length > 2) {
    notes.push(
      `binary search assumes the findings changed once between ${from} and ${to}; if they changed and changed back (a non-monotonic history), other changes may be hidden: --linear probes every version`,
    );
  }
  return finish('found', transition(probes.get(versions[lo]!)!, probes.get(versions[hi]!)!));
}

interface ProbeInput extends BisectOptions {
  outDir: string;
  base: Scenario;
  preset: string;
  version: string;
  index: number;
  install: InstallOptions;
}

/** One version: run (or resume, or reuse) OUT/<version>/, then diff it. */
async function runProbe(p: ProbeInput): Promise<ProbeResult> {
  const t0 = performance.now();
  const runDir = path.join(p.outDir, p.version);
  const scenario = scenarioForVersion(p.base, p.preset, p.version);
  let existing;
  try {
    existing = await ManifestStore.read(runDir);
  } catch (err) {
    throw new ScenarioError(`${(err as Error).message.split('\n')[0]}; remove ${runDir} or use another --out`);
  }
  // The stored scenario has the secret values as tags: compared with this one's put back.
  const stored = existing ? scenarioSecrets(scenario, existing.secrets?.policy === 'kept').secrets.restore(existing.scenario) : null;
  if (existing && JSON.stringify(serializeScenario(scenario)) !== JSON.stringify(stored)) {
    throw new ScenarioError(`${runDir} holds a run of a different scenario (or preset): use another --out, or remove that directory`);
  }
  const complete = existing !== null && existing.runs.length > 0 && existing.runs.every((r) => r.status === 'ok');
  const record: ProbeRecord = {
    version: p.version,
    index: p.index,
    runDir: p.version,
    status: 'ok',
    ran: 0,
    reused: complete,
    findings: 0,
    fingerprint: null,
    signatures: [],
    durationMs: 0,
  };
  if (!complete) {
    const result = await runScenario({
      scenario,
      baseDir: p.baseDir,
      outDir: runDir,
      resume: existing !== null,
      jobs: p.jobs,
      yes: p.yes,
      certsDir: p.certsDir,
      progress: p.progress ?? silentProgress,
      signal: p.signal,
      agentInstall: p.install,
    });
    record.ran = result.ran.length;
    if (result.exitCode !== EXIT.ok || p.signal?.aborted) {
      const bad = result.manifest.runs.filter((r) => r.status !== 'ok');
      record.status = 'failed';
      const one = bad[0];
      record.message = p.signal?.aborted
        ? 'interrupted'
        : `${bad.length} of ${result.manifest.runs.length} runs did not finish ok (see ${path.join(runDir, 'manifest.json')}; the same bisect command resumes it)` +
          (one ? `; ${one.id} ${one.status}${one.message ? `: ${one.message}` : ''}` : '');
      record.durationMs = Math.round(performance.now() - t0);
      return { record, findings: null, fp: null };
    }
  }
  const findings = await diffRunDir(runDir);
  await writeFindings(runDir, findings);
  const fp = fingerprint(findings);
  record.findings = findings.findings.length;
  record.fingerprint = fp.hash;
  record.signatures = fp.signatures;
  record.durationMs = Math.round(performance.now() - t0);
  return { record, findings, fp };
}
