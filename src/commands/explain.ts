import { existsSync } from 'node:fs';
import path from 'node:path';
import { UsageError, commaList, intOption, parse, withInterrupt } from '../cli-support.js';
import { DEFAULT_EXPLAIN_BUDGET, EXPLAIN_FILE, runExplain } from '../explain/index.js';
import { readExplanations } from '../explain/store.js';
import { AnchorError } from '../explain/probes.js';
import { ExplainSchema } from '../explain/schema.js';
import { renderFindingLine } from '../report/terminal.js';
import { explainedLines } from '../report/explained.js';
import { createProgress, type Progress } from '../scenario/progress.js';
import { useColor, writeHtml } from './findings.js';
import { EXIT } from '../errors.js';

const HELP = `Usage: promptdiff explain RUN_DIR --finding ID [options]

Turns a finding into the rule that triggers it, by experiment: reruns the run's agent (same
isolation, clock and task) on reduced and probed values of the axis the finding follows, into
RUN_DIR/explain/ID/ (a run directory of its own), and writes explain.json there. Per variant:
the minimal trigger (ddmin over the value's structure), the rule (substring, suffix, exact list,
threshold, conjunction…) and every probe with its outcome.

  --finding ID       the finding (its id in findings.json, as promptdiff report shows)
  --axis NAME        the axis to explain, when the finding depends on several together
  --budget RUNS      most runs in all, anchors included (default ${DEFAULT_EXPLAIN_BUDGET})
  --jobs N           runs in parallel (default: the scenario's jobs)
  --no-corpus        skip the corpora (every IANA zone, glibc locales, API hosts, catalogue values)
  --zones LIST       comma-separated zone names to try instead of the system's whole tzdata
  --scenario FILE    the run's scenario file, when its manifest holds secret values only as tags
  --json             print explain.json on stdout
  --certs DIR        CA directory

Exit codes: 0 explained, 2 input error (unknown finding, a presence finding, an axis it does not
depend on, an agent that cannot be installed any more), 3 probe runs failed or interrupted.
`;

/** One line per batch of probes, and the failed runs: a 600-zone corpus should not print 600 lines. */
function quietProgress(id: string): (round: number, runs: number) => Progress {
  const stream = process.stderr;
  if (stream.isTTY) {
    return (round) => {
      const inner = createProgress(stream);
      return { ...inner, start: (n, header) => inner.start(n, `explain ${id} batch ${round}: ${header}`) };
    };
  }
  return (round, runs) => ({
    start: () => stream.write(`explain ${id}: batch ${round}, ${runs} new cell${runs === 1 ? '' : 's'}\n`),
    runStarted: () => undefined,
    runDone: (e) => {
      if (e.status !== 'ok') stream.write(`  run ${e.id} ${e.status}${e.message ? `: ${e.message.split('\n')[0]}` : ''}\n`);
    },
    warn: (m) => stream.write(`  ${m}\n`),
    end: () => undefined,
  });
}

export async function cmdExplain(args: string[]): Promise<number> {
  const { values, positionals } = parse('explain', args, {
    finding: { type: 'string' },
    axis: { type: 'string' },
    budget: { type: 'string' },
    jobs: { type: 'string' },
    'no-corpus': { type: 'boolean' },
    zones: { type: 'string' },
    scenario: { type: 'string' },
    json: { type: 'boolean' },
    certs: { type: 'string' },
    help: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new UsageError('promptdiff explain: give exactly one run directory (promptdiff explain RUN_DIR --finding ID)');
  if (!values.finding) throw new UsageError('promptdiff explain: --finding ID is required (promptdiff report RUN_DIR shows the ids)');
  const runDir = path.resolve(positionals[0]!);
  const zones = values.zones === undefined ? undefined : commaList(values.zones);
  return withInterrupt(async (signal) => {
    const result = await runExplain({
      runDir,
      finding: values.finding!,
      ...(values.axis !== undefined ? { axis: values.axis } : {}),
      ...(values.budget !== undefined ? { budget: intOption('budget', values.budget, DEFAULT_EXPLAIN_BUDGET, 1, 1_000_000) } : {}),
      ...(values.jobs !== undefined ? { jobs: intOption('jobs', values.jobs, 2, 1, 64) } : {}),
      ...(values['no-corpus'] ? { corpus: false } : {}),
      ...(zones?.length ? { zones } : {}),
      ...(values.certs ? { certsDir: path.resolve(values.certs) } : {}),
      ...(values.scenario ? { scenarioPath: path.resolve(values.scenario) } : {}),
      progress: values.json ? undefined : quietProgress(values.finding!),
      signal,
    }).catch((err: unknown) => {
      if (err instanceof AnchorError) {
        process.stderr.write(`promptdiff explain: ${err.message}\n`);
        return null;
      }
      throw err;
    });
    if (!result) return EXIT.runsFailed;
    // The run directory's report gains the explained section (when it has findings.json to show).
    if (existsSync(path.join(runDir, 'findings.json'))) await writeHtml(runDir, result.findings);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(ExplainSchema.parse(result.explain), null, 2)}\n`);
      return result.exitCode;
    }
    const explanations = await readExplanations(runDir);
    const out = [renderFindingLine(result.finding, { color: useColor() }), ...explainedLines(explanations.get(result.finding.id) ?? result.explain)];
    for (const v of result.explain.variants) for (const n of v.notes) out.push(`    note: ${n}`);
    out.push(`${result.explain.runsTotal} runs in ${((result.explain.durationMs ?? 0) / 1000).toFixed(0)} s (${result.explain.status})`);
    out.push(`explain: ${path.join(result.dir, EXPLAIN_FILE)}`);
    if (existsSync(path.join(runDir, 'report.html'))) out.push(`report:  ${path.join(runDir, 'report.html')}`);
    process.stdout.write(`${out.join('\n')}\n`);
    return result.exitCode;
  });
}
