import path from 'node:path';
import { bisect, findingAtoms, type BisectResult, type ChangedFinding, type Transition } from '../bisect/index.js';
import { UsageError, intOption, parse } from '../cli-support.js';
import { renderFindingLine } from '../report/terminal.js';
import { loadScenario } from '../scenario/scenario-file.js';
import { createProgress, silentProgress } from '../scenario/progress.js';
import { useColor } from './findings.js';
import { EXIT } from '../errors.js';

const HELP = `Usage: promptdiff bisect SCENARIO --from A [--to B] [options]

  Runs the scenario for the released versions of its agent preset between A and B (the registry's
  version list, oldest first) and reports the first version whose findings differ from its
  predecessor's, with the findings that appeared or disappeared. Binary search: about log2(n) probes.

  --agent NAME             preset to bisect (default: the scenario's agent.preset; its args are kept)
  --from A                 oldest version: exact, a dist-tag or a range (required)
  --to B                   newest version (default latest)
  --include-prereleases    also probe prereleases between A and B
  --linear                 probe every version and report every change (no single-change assumption)
  --out DIR                bisect directory (default runs/bisect-<scenario>-<preset>-<A>-<B>); each probe
                           is a run directory DIR/<version>/, and a rerun with the same DIR reuses the
                           probes that completed
  --jobs N                 runs in parallel within a probe
  --yes                    allow a matrix larger than the scenario's max_runs
  --quiet                  no per-run progress
  --json                   print bisect.json instead of the summary
  --certs DIR              CA directory

Exit codes: 0 a version whose findings differ from its predecessor's was found, 1 none between A and B,
2 usage or input error, 3 a probe's runs failed (rerun the same command to resume it).
`;

const OPTIONS = {
  agent: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  'include-prereleases': { type: 'boolean' },
  linear: { type: 'boolean' },
  out: { type: 'string' },
  jobs: { type: 'string' },
  yes: { type: 'boolean' },
  quiet: { type: 'boolean' },
  json: { type: 'boolean' },
  certs: { type: 'string' },
  help: { type: 'boolean' },
} as const;

function safe(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_');
}

const MAX_CODE_POINTS = 6;
const MAX_FINDINGS = 12;
const MAX_EDITS = 3;

function cps(list: ChangedFinding['added']): string {
  if (list.length === 0) return '∅';
  const shown = list.slice(0, MAX_CODE_POINTS).map((c) => `${c.cp} ${c.name}`);
  return list.length > MAX_CODE_POINTS ? `${shown.join(', ')}, … (${list.length} code points)` : shown.join(', ');
}

function editText(c: ChangedFinding): string {
  const when = Object.entries(c.values)
    .map(([axis, vs]) => `${axis} ∈ {${vs.join(', ')}}`)
    .join(', ');
  const edit = c.removed.length + c.added.length > 0 ? `${cps(c.removed)} → ${cps(c.added)}` : c.path;
  return `${c.class}: ${edit}${when ? `  when ${when}` : ''}`;
}

/**
 * The findings that carry the changed edits, as \`promptdiff report\` shows them: "+" a finding that
 * is new (every edit in it is), "−" one that is gone, "~" one that changed (the differ merged a new
 * edit into an old span, or an edit went from one): then the edits that are new or gone are listed.
 */
function printSide(sign: '+' | '−', version: string, changed: ChangedFinding[], result: BisectResult, out: (line: string) => void): void {
  const color = useColor();
  const findings = result.probes.get(version)?.findings?.findings ?? [];
  const byFinding = new Map<string, ChangedFinding[]>();
  for (const c of changed) byFinding.set(c.findingId, [...(byFinding.get(c.findingId) ?? []), c]);
  let shown = 0;
  for (const [id, edits] of byFinding) {
    const f = findings.find((x) => x.id === id);
    if (!f) continue;
    if (shown === MAX_FINDINGS) {
      out(`  … ${byFinding.size - shown} more ${sign === '+' ? 'new' : 'gone'} or changed findings: see bisect.json`);
      break;
    }
    shown += 1;
    const changedKeys = new Set(edits.map((e) => e.signature));
    const whole = findingAtoms(f).every((a) => changedKeys.has(a.key));
    out(`  ${whole ? sign : '~'} ${version}: ${renderFindingLine(f, { color })}`);
    if (whole && edits.every((e) => e.class === f.class)) continue;
    for (const e of edits.slice(0, MAX_EDITS)) out(`      ${sign === '+' ? 'new' : 'gone'} ${editText(e)}`);
    if (edits.length > MAX_EDITS) out(`      … ${edits.length - MAX_EDITS} more edits: see bisect.json`);
  }
}

function printTransition(t: Transition, result: BisectResult, out: (line: string) => void): void {
  printSide('+', t.version, t.appeared, result, out);
  printSide('−', t.predecessor, t.disappeared, result, out);
}

export async function cmdBisect(args: string[]): Promise<number> {
  const { values, positionals } = parse('bisect', args, OPTIONS);
  if (values.help) {
    process.stdout.write(HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new UsageError('promptdiff bisect: give one scenario file (promptdiff bisect --help)');
  if (!values.from) throw new UsageError('promptdiff bisect: --from VERSION is required (the oldest version to test)');
  const loaded = await loadScenario(path.resolve(positionals[0]!));
  const agentName = values.agent ?? ('preset' in loaded.scenario.agent ? loaded.scenario.agent.preset : 'agent');
  const outDir = path.resolve(
    values.out ?? path.join('runs', `bisect-${safe(loaded.scenario.name)}-${safe(agentName)}-${safe(values.from)}-${safe(values.to ?? 'latest')}`),
  );
  const say = (line: string) => (values.json ? process.stderr : process.stdout).write(`${line}\n`);

  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let result: BisectResult;
  try {
    result = await bisect({
      scenario: loaded.scenario,
      baseDir: loaded.baseDir,
      agent: values.agent,
      from: values.from,
      to: values.to,
      includePrereleases: values['include-prereleases'],
      linear: values.linear,
      outDir,
      jobs: values.jobs === undefined ? undefined : intOption('jobs', values.jobs, 1, 1, 64),
      yes: values.yes,
      certsDir: values.certs ? path.resolve(values.certs) : undefined,
      progress: values.quiet ? silentProgress : createProgress(process.stderr),
      log: (line) => say(`bisect: ${line}`),
      signal: controller.signal,
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  const { report } = result;
  if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  switch (report.outcome) {
    case 'found': {
      const t = report.first!;
      say(`first version whose findings differ from its predecessor's: ${t.version} (predecessor ${t.predecessor}), after ${report.probes.length} probes`);
      if (!values.json) printTransition(t, result, say);
      if (report.transitions && report.transitions.length > 1) {
        say(`all ${report.transitions.length} changes (linear): ${report.transitions.map((x) => `${x.predecessor} → ${x.version}`).join(', ')}`);
      }
      say(`probes: ${path.join(outDir, t.predecessor)}  ${path.join(outDir, t.version)}`);
      break;
    }
    case 'no-difference':
      say(
        report.mode === 'linear'
          ? `no difference: all ${report.versions.length} versions from ${report.from} to ${report.to} have the same findings`
          : `no difference: ${report.from} and ${report.to} have the same findings`,
      );
      break;
    case 'probe-failed': {
      const bad = report.probes.find((p) => p.status !== 'ok');
      say(`probe ${bad?.version ?? '?'} failed: ${bad?.message ?? ''}`);
      break;
    }
    case 'interrupted':
      say('interrupted: rerun the same command to continue (completed probes are reused)');
      break;
  }
  for (const n of report.notes) say(`note: ${n}`);
  say(`bisect.json: ${result.file}`);
  return result.exitCode;
}
