import path from 'node:path';
import { bisect, type BisectResult, type ChangedFinding, type Transition } from '../bisect/index.js';
import { UsageError, intOption, parse } from '../cli-support.js';
import { renderFindingLine } from '../report/terminal.js';
import { loadScenario } from '../scenario/load.js';
import { createProgress, silentProgress } from '../scenario/progress.js';
import { useColor } from './findings.js';

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

function cps(list: ChangedFinding['added']): string {
  return list.length === 0 ? '∅' : list.map((c) => `${c.cp} ${c.name}`).join(', ');
}

function atomLine(sign: '+' | '−', c: ChangedFinding): string {
  const when = Object.entries(c.values)
    .map(([axis, vs]) => `${axis} ∈ {${vs.join(', ')}}`)
    .join(', ');
  const edit = c.removed.length + c.added.length > 0 ? `: ${cps(c.removed)} → ${cps(c.added)}` : '';
  return `  ${sign} ${c.class}  ${c.path}${c.axes.length ? `  by ${c.axes.join(' × ')}` : ''}${when ? `  when ${when}` : ''}${edit}`;
}

/** Each changed atom, then once each the finding that carries it, as \`promptdiff report\` shows it. */
function printTransition(t: Transition, result: BisectResult, out: (line: string) => void): void {
  const color = useColor();
  const carriers = (version: string, changed: ChangedFinding[]) => {
    const findings = result.probes.get(version)?.findings?.findings ?? [];
    const ids = [...new Set(changed.map((c) => c.findingId))];
    return ids.map((id) => findings.find((f) => f.id === id)).filter((f) => f !== undefined);
  };
  for (const c of t.appeared) out(atomLine('+', c));
  for (const c of t.disappeared) out(atomLine('−', c));
  for (const f of carriers(t.version, t.appeared)) out(`    in ${t.version}: ${renderFindingLine(f, { color })}`);
  for (const f of carriers(t.predecessor, t.disappeared)) out(`    in ${t.predecessor}: ${renderFindingLine(f, { color })}`);
}

export async function cmdBisect(args: string[]): Promise<number> {
  const { values, positionals } = parse('bisect', args, OPTIONS);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
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
