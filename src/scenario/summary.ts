import path from 'node:path';
import type { Manifest, RunStatus } from './manifest.js';
import type { RunScenarioResult } from './runner.js';

/**
 * What `promptdiff run` prints when it is done: counts per status, every run that is not ok with
 * its reason (including the agent's stderr tail), and what to do next. Not the run's warnings
 * (an unpinned clock, a skipped factor): the progress printed those when the run started.
 */
export function formatRunSummary(result: RunScenarioResult, options: { diffFollows?: boolean } = {}): string {
  const { manifest, outDir } = result;
  const counts = new Map<RunStatus, number>();
  for (const run of manifest.runs) counts.set(run.status, (counts.get(run.status) ?? 0) + 1);
  const exchanges = manifest.runs.reduce((n, r) => n + r.exchanges, 0);
  const lines = [
    `${manifest.runs.length} runs in ${manifest.cells.length} cells: ` +
      [...counts].map(([status, n]) => `${n} ${status}`).join(', ') +
      `; ${exchanges} exchanges captured → ${outDir}`,
  ];
  const bad = manifest.runs.filter((r) => r.status !== 'ok' && r.status !== 'pending');
  const shown = bad.slice(0, 5);
  for (const run of shown) {
    lines.push('', `${run.id} ${run.status} (cell ${run.cell}: ${describeCell(manifest, run.cell)})`);
    if (run.message) lines.push(indent(run.message));
    lines.push(indent(`output: ${path.join(outDir, 'runs', run.id)}/{stdout,stderr}.txt`));
  }
  if (bad.length > shown.length) lines.push('', `… and ${bad.length - shown.length} more runs that did not complete (see manifest.json)`);
  if (result.exitCode !== 0) {
    const pending = counts.get('pending') ?? 0;
    lines.push(
      '',
      pending > 0 && bad.length === 0
        ? `${pending} runs are still pending: finish them with  promptdiff run --resume ${outDir}`
        : `run failed: fix the cause above, then  promptdiff run --resume ${outDir}  (completed runs are kept)`,
    );
  } else if (manifest.runs.some((r) => r.status === 'pending' && r.message?.startsWith('left to shard'))) {
    lines.push('', `next: when every shard is done,  promptdiff merge OUT ${outDir} <other shard dirs>`);
  } else if (!options.diffFollows) {
    lines.push('', `next: promptdiff diff ${outDir}`);
  }
  return lines.join('\n');
}

function describeCell(manifest: Manifest, cellId: string): string {
  const cell = manifest.cells.find((c) => c.id === cellId);
  if (!cell) return '?';
  const values = Object.entries(cell.values).map(([k, v]) => `${k}=${v}`);
  return values.length ? values.join(' ') : 'no axes';
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}
