import path from 'node:path';
import { runAudit } from '../audit/index.js';
import { describeAudit } from '../audit/summary.js';
import { renderTerminal } from '../report/terminal.js';
import { UsageError, commaList, intOption, parse, timestamp, withInterrupt } from '../cli-support.js';
import { scenarioName } from './scenario.js';
import { builtInCatalogue, CATALOGUE_FILE } from '../scenario/factors/catalogue.js';
import { FACTOR_KINDS } from '../scenario/factors/index.js';
import { terminalOptions, writeHtml } from './findings.js';
import { EXIT } from '../errors.js';

const AUDIT_HELP = `Usage: promptdiff audit SCENARIO [options]
       promptdiff audit --resume DIR

Finds what the agent's requests depend on without being told where to look: varies the machine
(time zone, locale, hostname, user, git identity, package mirrors, DNS, OS release, …) from the
built-in catalogue (promptdiff factors) in stages — screen, fold-over, follow-up factorial, values —
each an ordinary run of the scenario's agent, route and task. Writes one run directory with
findings.json, report.html (opening with the verdict) and audit.json.

  --out DIR          audit directory to create (default runs/<scenario name>-audit-<timestamp>)
  --factors LIST     comma-separated catalogue factors (default: the scenario's factors, else all)
  --profiles LIST    comma-separated catalogue profiles (default: all)
  --all-values       screen every catalogue value one at a time, not only the profiles' values
  --budget RUNS      most runs in all (default 600); the screen must fit, later stages are cut
  --jobs N           runs in parallel (default: the scenario's jobs)
  --resume DIR       finish an interrupted audit
  --certs DIR        CA directory
  --keep-secrets     write secret values as they are (default: tags; --resume then needs SCENARIO)

Exit codes: 0 nothing depends on the machine, 1 findings, 2 scenario or input error,
3 runs failed or a factor could not be applied here (not compared).
`;

function list(value: string | undefined): string[] | null {
  if (value === undefined) return null;
  const items = commaList(value);
  if (items.length === 0) throw new UsageError('expected a comma-separated list');
  return items;
}

export async function cmdAudit(args: string[]): Promise<number> {
  const { values, positionals } = parse('audit', args, {
    out: { type: 'string' },
    factors: { type: 'string' },
    profiles: { type: 'string' },
    'all-values': { type: 'boolean' },
    budget: { type: 'string' },
    jobs: { type: 'string' },
    resume: { type: 'string' },
    certs: { type: 'string' },
    'keep-secrets': { type: 'boolean' },
    help: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(AUDIT_HELP);
    return EXIT.ok;
  }
  if (positionals.length > 1) throw new UsageError('promptdiff audit: give one scenario file');
  const scenarioPath = positionals[0] ? path.resolve(positionals[0]) : undefined;
  if (!scenarioPath && !values.resume) throw new UsageError('promptdiff audit: give a scenario file (or --resume DIR)');
  const name = scenarioPath ? await scenarioName(scenarioPath) : '';
  const outDir = path.resolve(values.resume ?? values.out ?? path.join('runs', `${name}-audit-${timestamp()}`));
  return withInterrupt(async (signal) => {
    const result = await runAudit({
      scenarioPath,
      outDir,
      resume: Boolean(values.resume),
      factors: values.factors === undefined ? null : list(values.factors),
      profiles: values.profiles === undefined ? null : list(values.profiles),
      allValues: values['all-values'],
      budget: values.budget === undefined ? undefined : intOption('budget', values.budget, 600, 1, 1_000_000),
      jobs: values.jobs === undefined ? undefined : intOption('jobs', values.jobs, 1, 1, 64),
      certsDir: values.certs ? path.resolve(values.certs) : undefined,
      keepSecrets: values['keep-secrets'],
      signal,
    });
    if (result.findings) {
      const html = await writeHtml(result.outDir, result.findings);
      process.stdout.write(renderTerminal(result.findings, terminalOptions()));
      for (const line of describeAudit(result.audit)) process.stdout.write(`${line}\n`);
      process.stdout.write(`\nreport: ${html}\naudit:  ${path.join(result.outDir, 'audit.json')}\n`);
    }
    if (result.audit.status === 'interrupted') process.stderr.write(`interrupted: finish with  promptdiff audit --resume ${result.outDir}\n`);
    else if (result.audit.status === 'runs-failed') process.stderr.write(`runs failed: see ${path.join(result.outDir, 'manifest.json')}, then  promptdiff audit --resume ${result.outDir}\n`);
    return result.exitCode;
  });
}

export async function cmdFactors(args: string[]): Promise<number> {
  const { values } = parse('factors', args, { json: { type: 'boolean' }, help: { type: 'boolean' } }, false);
  if (values.help) {
    process.stdout.write(`Usage: promptdiff factors [--json]\n  lists the machine-factor catalogue (${CATALOGUE_FILE}): factors, kinds, values, profiles\n`);
    return EXIT.ok;
  }
  const catalogue = builtInCatalogue();
  if (values.json) {
    const factors = Object.fromEntries(
      [...catalogue.factors.values()].map((f) => [f.name, { kind: f.kind.kind, summary: f.summary, baseline: f.baseline, neutral: f.neutral ?? null, needs: f.kind.needs, readers: f.kind.readers, values: Object.fromEntries(f.values) }]),
    );
    process.stdout.write(`${JSON.stringify({ file: CATALOGUE_FILE, factors, profiles: Object.fromEntries(catalogue.profiles) }, null, 2)}\n`);
    return EXIT.ok;
  }
  const out: string[] = [`factor catalogue: ${CATALOGUE_FILE}`, ''];
  for (const f of catalogue.factors.values()) {
    const others = [...f.values.keys()].filter((v) => v !== f.baseline);
    out.push(`${f.name}  (${f.kind.kind}${f.kind.needs.length ? `; needs ${f.kind.needs.join(', ')}` : ''})  ${f.summary}`);
    out.push(`    baseline ${f.baseline}${f.neutral !== undefined ? `; every run gets ${f.neutral} unless varied` : ''}`);
    out.push(`    ${others.length} values: ${others.join(', ')}`);
  }
  out.push('', 'profiles:');
  for (const p of catalogue.profiles.values()) out.push(`  ${p.name}  ${p.summary}`, `    ${Object.entries(p.values).map(([k, v]) => `${k}=${v}`).join('  ')}`);
  out.push('', 'kinds (how a value is made real):');
  for (const k of FACTOR_KINDS) out.push(`  ${k.kind}: ${k.summary}`, ...k.readers.map((r) => `      read by ${r}`));
  process.stdout.write(`${out.join('\n')}\n`);
  return EXIT.ok;
}
