import { open } from 'node:fs/promises';
import path from 'node:path';
import { runScenario } from '../scenario/runner.js';
import { formatRunSummary } from '../scenario/summary.js';
import { renderTerminal } from '../report/terminal.js';
import { exitCodeFor } from '../report/exit-code.js';
import { UsageError, intOption, parse, timestamp, withInterrupt } from '../cli-support.js';
import { checkDemo, demoPlants, demoScenarioPath } from '../scenario/demo.js';
import { validateScenario } from '../scenario/scenario-file.js';
import type { Scenario } from '../scenario/schema.js';
import type { Findings } from '../diff/index.js';
import { diffAndWrite, terminalOptions } from './findings.js';
import { EXIT } from '../errors.js';

const RUN_HELP = `Usage: promptdiff run SCENARIO [options]
       promptdiff run --resume RUN_DIR

  --out DIR        run directory to create (default runs/<scenario name>-<timestamp>)
  --jobs N         runs in parallel (default: the scenario's jobs)
  --yes            allow a matrix larger than the scenario's max_runs
  --resume DIR     finish an interrupted run: completed runs are kept, the rest are (re)done
  --shard K/N      run only a deterministic slice of the matrix (join slices with a merge)
  --no-diff        only run; do not diff afterwards
  --certs DIR      CA directory (default: see  promptdiff ca path)
  --keep-secrets   write secret values as they are (default: each becomes a tag [redacted:…]
                   in manifest.json, captures and the agent's output; resume then needs SCENARIO)

Exit codes: 0 no findings, 1 findings, 2 scenario or input error, 3 runs failed.
`;

async function runAndReport(options: {
  scenarioPath?: string;
  outDir: string;
  jobs?: number;
  yes?: boolean;
  resume?: boolean;
  shard?: string;
  diff: boolean;
  certsDir?: string;
  keepSecrets?: boolean;
  /** Judges the findings instead of the usual exit code (the demo's self-check). */
  verdict?: (findings: Findings, scenario: Scenario) => { ok: boolean; line: string };
}): Promise<number> {
  return withInterrupt(async (signal) => {
    const result = await runScenario({ ...options, signal });
    if (signal.aborted) {
      process.stderr.write(`interrupted: finish with  promptdiff run --resume ${result.outDir}\n`);
      return EXIT.runsFailed;
    }
    process.stderr.write(`${result.secrets.text(formatRunSummary(result, { diffFollows: options.diff && !options.shard }))}\n`);
    if (!options.diff || options.shard || result.exitCode !== EXIT.ok) return result.exitCode;
    const { findings, htmlFile } = await diffAndWrite(result.outDir);
    process.stdout.write(renderTerminal(findings, terminalOptions()));
    process.stdout.write(`\nreport: ${htmlFile}\n`);
    if (options.verdict) {
      const v = options.verdict(findings, validateScenario(result.manifest.scenario, path.join(result.outDir, 'manifest.json')));
      process.stdout.write(`${v.line}\n`);
      return v.ok ? EXIT.noFindings : EXIT.findings;
    }
    return exitCodeFor(findings);
  });
}

const RUN_OPTIONS = {
  out: { type: 'string' },
  jobs: { type: 'string' },
  yes: { type: 'boolean' },
  resume: { type: 'string' },
  shard: { type: 'string' },
  'no-diff': { type: 'boolean' },
  certs: { type: 'string' },
  'keep-secrets': { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

/** The scenario's `name:`, read cheaply for a default directory name (the file is validated later). */
export async function scenarioName(file: string): Promise<string> {
  // The first 64 KB hold the name; the whole file (size-limited) is read and checked later.
  const text = await open(file, 'r')
    .then(async (h) => {
      try {
        const buf = Buffer.alloc(64 * 1024);
        const { bytesRead } = await h.read(buf, 0, buf.length, 0);
        return buf.toString('utf8', 0, bytesRead);
      } finally {
        await h.close();
      }
    })
    .catch(() => '');
  const m = /^name:\s*["']?([\w.-]+)/m.exec(text) ?? /"name"\s*:\s*"([\w.-]+)"/.exec(text);
  return m?.[1] ?? path.basename(file).replace(/\.(ya?ml|json)$/, '');
}

export async function cmdRun(args: string[]): Promise<number> {
  const { values, positionals } = parse('run', args, RUN_OPTIONS);
  if (values.help) {
    process.stdout.write(RUN_HELP);
    return EXIT.ok;
  }
  if (positionals.length > 1) throw new UsageError('promptdiff run: give one scenario file');
  const scenarioPath = positionals[0] ? path.resolve(positionals[0]) : undefined;
  if (!scenarioPath && !values.resume) throw new UsageError('promptdiff run: give a scenario file (or --resume RUN_DIR)');
  if (values.shard && !/^\d+\/\d+$/.test(values.shard)) throw new UsageError(`--shard must look like K/N (e.g. 1/4), got "${values.shard}"`);
  const outDir = values.resume
    ? path.resolve(values.resume)
    : path.resolve(values.out ?? path.join('runs', `${await scenarioName(scenarioPath!)}-${timestamp()}`));
  return runAndReport({
    scenarioPath,
    outDir,
    jobs: values.jobs === undefined ? undefined : intOption('jobs', values.jobs, 1, 1, 64),
    yes: values.yes,
    resume: Boolean(values.resume),
    shard: values.shard,
    diff: !values['no-diff'],
    certsDir: values.certs ? path.resolve(values.certs) : undefined,
    keepSecrets: values['keep-secrets'],
  });
}

const DEMO_SCENARIO = demoScenarioPath();

export async function cmdDemo(args: string[]): Promise<number> {
  const { values } = parse('demo', args, { out: { type: 'string' }, jobs: { type: 'string' }, certs: { type: 'string' }, help: { type: 'boolean' } }, false);
  if (values.help) {
    process.stdout.write(
      `Usage: promptdiff demo [--out DIR] [--jobs N]\n  runs ${DEMO_SCENARIO} offline (the canary agent with planted covert channels), then diffs and reports;\n  exit 0 when exactly the planted channels were found, 1 when not, 3 when runs failed\n`,
    );
    return EXIT.ok;
  }
  // Relative from a checkout ("scenarios/demo.yaml"); a path climbing out of the directory (a global install) reads better whole.
  const shown = path.relative(process.cwd(), DEMO_SCENARIO);
  process.stdout.write(`promptdiff demo: ${shown && !shown.startsWith('..') ? shown : DEMO_SCENARIO}\n`);
  return runAndReport({
    scenarioPath: DEMO_SCENARIO,
    outDir: path.resolve(values.out ?? path.join('runs', `demo-${timestamp()}`)),
    jobs: values.jobs === undefined ? undefined : intOption('jobs', values.jobs, 2, 1, 64),
    diff: true,
    certsDir: values.certs ? path.resolve(values.certs) : undefined,
    verdict: (findings, scenario) => checkDemo(findings, demoPlants(scenario)),
  });
}
