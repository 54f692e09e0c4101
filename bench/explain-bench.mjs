// promptdiff explain benchmark: build first, then run it:
//
//   npm run build && node bench/explain-bench.mjs
//
// Runs and wall time of `promptdiff explain` on a real agent: Claude Code 2.1.91 (JavaScript
// release, installed into the agent cache on first use), reverse route, stub upstream, 2
// repetitions, 2 jobs. A small run directory first (the catalogue's deepseek, zhipu and relay-cn
// base URLs, and Asia/Shanghai, each one at a time), then explain of its two covert findings with
// the corpora: the apostrophe of "Today's date" (three variants, by base-URL host; the API-host
// corpus and the catalogue's base URLs) and the date separator (by time zone; every zone of the
// system's tzdata). Reports, per variant, its runs, the wall time until its search ended, and its
// rule; and for the zone corpus the runs and seconds.
// Targets (issue 13): at most 100 runs per explained variant; the ~600-zone corpus within 10
// minutes on 2 cores.
//
// Knobs: BENCH_EXPLAIN_VERSION=2.1.91, BENCH_EXPLAIN_JOBS=2, BENCH_EXPLAIN_KEEP=1 (keep the
// directories), BENCH_EXPLAIN_ZONES=Asia/Shanghai,… (a narrower zone corpus), BENCH_SKIP_EXPLAIN=1.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { diffRunDir, writeFindings } from '../dist/diff/index.js';
import { runExplain } from '../dist/explain/index.js';
import { validateScenario } from '../dist/scenario/scenario-file.js';
import { silentProgress } from '../dist/scenario/progress.js';
import { runScenario } from '../dist/scenario/runner.js';

if (process.env.BENCH_SKIP_EXPLAIN === '1') {
  console.log('explain bench: skipped (BENCH_SKIP_EXPLAIN=1)');
  process.exit(0);
}

const VERSION = process.env.BENCH_EXPLAIN_VERSION ?? '2.1.91';
const JOBS = Number(process.env.BENCH_EXPLAIN_JOBS ?? 2);
const ZONES = process.env.BENCH_EXPLAIN_ZONES?.split(',');
const RUNS_TARGET = 100;
const CORPUS_TARGET_S = 600;
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

const scenario = validateScenario(
  {
    name: 'claude-code-explain-bench',
    agent: { preset: 'claude-code', version: VERSION, args: ['Say hi.'] },
    route: 'reverse',
    factors: { 'network.base-url': ['first-party', 'deepseek', 'zhipu', 'relay-cn'], 'system.timezone': ['Etc/UTC', 'Asia/Shanghai'] },
    design: 'one-at-a-time',
    repetitions: 2,
    timeout: '90s',
    jobs: JOBS,
    workspace: path.join(root, 'test/fixtures/scenario/workspace'),
  },
  'explain bench',
);

const base = await mkdtemp(path.join(os.tmpdir(), 'promptdiff-explain-bench-'));
const runDir = path.join(base, 'run');
let t = performance.now();
await runScenario({ scenario, outDir: runDir, progress: silentProgress });
const findings = await diffRunDir(runDir);
await writeFindings(runDir, findings);
console.log(`\nrun directory: ${findings.summary.cells.length} cells, ${findings.summary.runs.total} runs in ${((performance.now() - t) / 1000).toFixed(1)} s`);
const reminder = (f) => /^body\.messages\[0\]\.content\[\d+\]\.text$/.test(f.location.path);
const apostrophe = findings.findings.find((f) => f.class === 'confusable' && reminder(f));
const date = findings.findings.find((f) => f.class === 'format-change' && reminder(f));
if (!apostrophe || !date) {
  console.log(`explain bench: the run did not show both channels (harness broken):\n${findings.findings.map((f) => f.summary).join('\n')}`);
  process.exit(3);
}

// The search's own runs (reproduce, minimise, generalise, threshold) against the target; corpora
// are the universe of the axis and are measured by their time.
let worst = 0;
const own = (v) => v.probes.filter((p) => p.stage !== 'corpus' && p.status !== 'skipped').length;
const report = (label, r, seconds) => {
  const n = r.explain.variants.length;
  console.log(`\n${label}: ${r.explain.runsTotal} runs in ${seconds.toFixed(1)} s (${r.explain.status}), anchors and corpora included: ${(r.explain.runsTotal / n).toFixed(0)} runs and ${(seconds / n).toFixed(1)} s per variant`);
  console.log('variant  search  corpus  seconds  rule');
  for (const v of r.explain.variants) {
    worst = Math.max(worst, own(v));
    const cps = v.codePoints.length > 2 ? `${v.codePoints.length} cps` : v.codePoints.map((c) => c.cp).join('+');
    console.log(`${cps.padEnd(8)} ${String(own(v)).padStart(6)} ${String(v.runs - own(v)).padStart(7)} ${((v.durationMs ?? 0) / 1000).toFixed(1).padStart(8)}  ${v.rule.length > 160 ? `${v.rule.slice(0, 157)}...` : v.rule}`);
  }
};

t = performance.now();
const a = await runExplain({ runDir, finding: apostrophe.id, jobs: JOBS, progress: () => silentProgress });
report('apostrophe (network.base-url, API-host corpus and catalogue)', a, (performance.now() - t) / 1000);

t = performance.now();
const d = await runExplain({ runDir, finding: date.id, jobs: JOBS, ...(ZONES ? { zones: ZONES } : {}), progress: () => silentProgress });
const corpusS = (performance.now() - t) / 1000;
report(`date separator (system.timezone, ${ZONES ? `${ZONES.length} zones given` : 'every tzdata zone'})`, d, corpusS);
const zones = d.explain.variants[0].probes.filter((p) => p.stage === 'corpus' || p.stage === 'reproduce');
console.log(`  ${zones.length} zones tried, ${zones.filter((p) => p.status === 'failed').length} failed: ${d.explain.variants[0].minimal.join(', ')}`);

console.log(`\ntarget: ≤ ${RUNS_TARGET} runs per variant to minimise and generalise: ${worst <= RUNS_TARGET ? 'pass' : 'MISS'} (most: ${worst})`);
console.log(`target: the zone corpus within ${CORPUS_TARGET_S} s: ${corpusS <= CORPUS_TARGET_S ? 'pass' : 'MISS'} (${corpusS.toFixed(1)} s for ${zones.length} zones)`);
if (process.env.BENCH_EXPLAIN_KEEP === '1') console.log(`kept: ${base}`);
else await rm(base, { recursive: true, force: true });
