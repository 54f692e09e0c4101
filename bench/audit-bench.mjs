// promptdiff audit benchmark: build first, then run it:
//
//   npm run build && node bench/audit-bench.mjs
//
// Runs and wall time of `promptdiff audit` on a real agent with the whole built-in catalogue and
// no factors named: Claude Code 2.1.91 (JavaScript release, installed into the agent cache on
// first use), reverse route, stub upstream with the default tool script, 2 repetitions, 2 jobs.
// Reports each stage's runs and seconds, when each of the release's two known channels was first
// found (the apostrophe of "Today's date" by base-URL host, the date separator by time zone), and
// the runs used against a full factorial of the same factors and values.
// Target (issue 9): both channels found within 5 minutes on this 2-core machine.
//
// Knobs: BENCH_AUDIT_VERSION=2.1.91, BENCH_AUDIT_ROUTE=reverse|forward, BENCH_AUDIT_JOBS=2,
// BENCH_AUDIT_KEEP=1 (keep the audit directory), BENCH_SKIP_AUDIT=1 (skip this benchmark).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { runAudit } from '../dist/audit/index.js';
import { validateScenario } from '../dist/scenario/scenario-file.js';
import { silentProgress } from '../dist/scenario/progress.js';

if (process.env.BENCH_SKIP_AUDIT === '1') {
  console.log('audit bench: skipped (BENCH_SKIP_AUDIT=1)');
  process.exit(0);
}

const VERSION = process.env.BENCH_AUDIT_VERSION ?? '2.1.91';
const ROUTE = process.env.BENCH_AUDIT_ROUTE ?? 'reverse';
const JOBS = Number(process.env.BENCH_AUDIT_JOBS ?? 2);
const TARGET_S = 300;
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

const scenario = validateScenario(
  {
    name: 'claude-code-audit-bench',
    agent: { preset: 'claude-code', version: VERSION, args: ['Say hi.'] },
    route: ROUTE,
    repetitions: 2,
    timeout: '90s',
    workspace: path.join(root, 'test/fixtures/scenario/workspace'),
  },
  'audit bench',
);

const outDir = await mkdtemp(path.join(os.tmpdir(), 'promptdiff-audit-bench-'));
const t0 = performance.now();
const result = await runAudit({ scenario, outDir, jobs: JOBS, progress: () => silentProgress });
const total = (performance.now() - t0) / 1000;
const { audit } = result;

const apostrophe = (c) => c.path.endsWith('.text') && c.factors.join() === 'network.base-url' && c.class === 'confusable';
const separator = (c) => c.class === 'format-change' && c.factors.includes('system.timezone');
const firstStage = (pred) => audit.stages.findIndex((s) => s.findings.covert.some(pred));
// Stage times from audit.json (each stage's runs and its diff), so a finding's time is when its stage ended.
const at = (i) => (i < 0 ? null : audit.stages.slice(0, i + 1).reduce((n, s) => n + s.durationMs, 0) / 1000);

console.log(`\naudit of claude-code ${VERSION}, route ${ROUTE}, ${JOBS} jobs, whole catalogue (${audit.factors.tried.length} factors, ${audit.profiles.length} profiles)`);
console.log('stage        cells  runs  seconds  note');
for (const s of audit.stages) {
  console.log(`${s.name.padEnd(12)} ${String(s.cells.length).padStart(5)} ${String(s.runs).padStart(5)} ${(s.durationMs / 1000).toFixed(1).padStart(8)}  ${s.note ?? ''}`);
}
const a = firstStage(apostrophe);
const d = firstStage(separator);
const both = a < 0 || d < 0 ? null : Math.max(at(a), at(d));
console.log(`total: ${audit.runs.total} runs (${audit.runs.ok} ok) in ${total.toFixed(1)} s; a full factorial of the same values: ${audit.runs.fullFactorial.toExponential(2)} runs`);
console.log(`apostrophe channel (base URL): ${a < 0 ? 'NOT FOUND' : `found by the end of stage ${audit.stages[a].name}, ${at(a).toFixed(1)} s`}`);
console.log(`date-separator channel (time zone): ${d < 0 ? 'NOT FOUND' : `found by the end of stage ${audit.stages[d].name}, ${at(d).toFixed(1)} s`}`);
console.log(`target: both channels within ${TARGET_S} s: ${both === null ? 'MISS (not found)' : both <= TARGET_S ? `pass (${both.toFixed(1)} s)` : `MISS (${both.toFixed(1)} s)`}`);
console.log(`exit code ${result.exitCode}; mattered: ${audit.mattered.map((m) => m.factor).join(', ')}`);
if (process.env.BENCH_AUDIT_KEEP === '1') console.log(`kept: ${outDir}`);
else await rm(outDir, { recursive: true, force: true });
