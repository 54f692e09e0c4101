import { readFileSync } from 'node:fs';
import { Aligner } from './align.js';
import { findingsOfAlignment } from './findings-of-alignment.js';
import { FINDINGS_FORMAT, FINDINGS_VERSION, type Findings, type RunFailure, type Summary } from './findings-schema.js';
import { exchangesFile, insideRunDir, loadManifest, readExchanges } from './run-dir.js';
import type { Manifest, RunEntry } from '../scenario/manifest.js';
import type { Design } from './noise.js';
import { needlesOf } from './echo.js';
import { UNICODE_DATA } from './unicode.js';

export { InputError } from './run-dir.js';
export { FindingsSchema, FINDINGS_FORMAT, FINDINGS_VERSION, FINDING_CLASSES } from './findings-schema.js';
export type { Findings, Finding, FindingClass, Occurrence } from './findings-schema.js';

export const FINDINGS_FILE = FINDINGS_FORMAT.file;

function toolVersion(): string {
  // src/diff/ when run from sources, dist/src/diff/ when built: look upward for our package.json.
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'promptdiff' && pkg.version) return pkg.version;
    } catch {
      // Try the next place.
    }
  }
  return '0.0.0';
}

/**
 * Reads a run directory and finds the bytes that follow the environment. Only runs whose status
 * is `ok` are compared: a failed run's partial traffic would read as requests missing in its cell.
 */
export async function diffRunDir(runDir: string, options: { cells?: ReadonlySet<string> } = {}): Promise<Findings> {
  const loaded = await loadManifest(runDir);
  // A subset of the cells (an audit deciding its next stage from the cells it had then): the
  // directory is read as if it held only those.
  const only = options.cells;
  const manifest = only
    ? { ...loaded, cells: loaded.cells.filter((c) => only.has(c.id)), runs: loaded.runs.filter((r) => only.has(r.cell)) }
    : loaded;
  const warnings: string[] = [];
  const failed: RunFailure[] = manifest.runs.filter((r) => r.status !== 'ok').map(failure);
  const compared: RunEntry[] = [];
  const aligner = new Aligner();
  let exchanges = 0;
  for (const run of manifest.runs.filter((r) => r.status === 'ok')) {
    const file = exchangesFile(runDir, run.id);
    const found = await insideRunDir(runDir, file);
    const read = found ? await readExchanges(file) : { records: [], warnings: [], missing: true };
    const problem = captureProblem(run, read.records, read.missing);
    if (problem) {
      // A run whose capture does not hold what the runner counted was not compared: said so, exit 3.
      failed.push({ id: run.id, cell: run.cell, status: problem.status, message: `${file}: ${problem.message}` });
      continue;
    }
    warnings.push(...read.warnings);
    exchanges += read.records.length;
    compared.push(run);
    aligner.add(run.id, read.records);
  }
  const alignment = aligner.finish();

  // What each machine factor's values put on the machine, as the run directory recorded it.
  const shows = new Map(Object.entries(manifest.factors ?? {}).map(([name, def]) => [name, def.shows ?? {}]));
  const design: Design = {
    axes: Object.keys(manifest.axes),
    cells: new Map(manifest.cells.map((c) => [c.id, c.values])),
    runCell: new Map(compared.map((r) => [r.id, r.cell])),
    needles: (axis, value) => shows.get(axis)?.[value]?.flatMap(needlesOf) ?? needlesOf(value),
  };
  const analysis = findingsOfAlignment(alignment, design, manifest.expect);

  const perCell = manifest.cells.map((c) => compared.filter((r) => r.cell === c.id).length);
  const min = perCell.length ? Math.min(...perCell) : 0;
  const max = perCell.length ? Math.max(...perCell) : 0;
  const notes: string[] = [];
  if (max <= 1) {
    notes.push(
      '1 repetition per cell: run-to-run noise cannot be told apart from environment dependence, so every difference between cells is reported; run at least 2 repetitions',
    );
  } else {
    const single = manifest.cells.filter((_, i) => perCell[i]! === 1).map((c) => c.id);
    if (single.length) notes.push(`cells ${single.join(', ')} have one successful run: noise inside them cannot be seen`);
  }
  const empty = manifest.cells.filter((_, i) => perCell[i]! === 0).map((c) => c.id);
  if (empty.length) notes.push(`cells ${empty.join(', ')} have no successful run and are left out of the comparison`);
  if (analysis.maskedSpans) notes.push(`${analysis.maskedSpans} spans varied between repetitions of a cell and were masked as noise`);
  if (analysis.maskedPresence) {
    notes.push(`${analysis.maskedPresence} requests or fields came and went between repetitions of a cell and were masked as noise`);
  }

  const byClass: Record<string, number> = {};
  for (const f of analysis.findings) byClass[f.class] = (byClass[f.class] ?? 0) + 1;
  const summary: Summary = {
    counts: {
      total: analysis.findings.length,
      byClass,
      occurrences: analysis.findings.reduce((n, f) => n + f.locations.length, 0),
    },
    axes: manifest.axes,
    cells: manifest.cells.map((c) => ({ id: c.id, values: c.values })),
    runs: { total: manifest.runs.length, compared: compared.length },
    repetitions: { min, max },
    exchanges,
    alignedRequests: alignment.size,
    fieldsCompared: analysis.fieldsCompared,
    noise: { maskedSpans: analysis.maskedSpans, maskedPresence: analysis.maskedPresence, notes },
    factorsSkipped: manifest.isolation?.machine?.skipped ?? [],
    runsFailed: failed,
    notCompared: notCompared(manifest, compared),
    warnings,
    unicode: { ...UNICODE_DATA },
  };
  return {
    v: FINDINGS_VERSION,
    tool: { name: 'promptdiff', version: toolVersion() },
    generatedAt: new Date().toISOString(),
    runDir,
    summary,
    findings: analysis.findings,
    texts: analysis.texts,
  };
}

function failure(r: RunEntry): RunFailure {
  return { id: r.id, cell: r.cell, status: r.status, ...(r.message !== undefined ? { message: r.message } : {}) };
}

/**
 * Why an ok run's capture cannot be compared: it is gone, empty, shorter or longer than the count
 * the runner wrote down, or holds another run's records. Each would otherwise read as that run
 * having sent fewer (or other) requests, or vanish from the comparison without a word.
 */
export function captureProblem(run: RunEntry, records: ReadonlyArray<{ run: string | null }>, missing: boolean): { status: string; message: string } | null {
  const counted = `the manifest counts ${run.exchanges} exchange${run.exchanges === 1 ? '' : 's'}`;
  if (missing) return { status: 'capture-missing', message: `missing, but ${counted}` };
  if (records.length === 0) return { status: 'capture-empty', message: `holds no exchange, but ${counted}` };
  if (records.length < run.exchanges) return { status: 'capture-short', message: `holds ${records.length} exchanges, but ${counted}` };
  if (records.length > run.exchanges) return { status: 'capture-long', message: `holds ${records.length} exchanges, but ${counted} (changed after the run?)` };
  const foreign = records.find((r) => r.run !== run.id);
  if (foreign) return { status: 'capture-mismatch', message: `holds records of run ${JSON.stringify(foreign.run)}, not ${run.id}` };
  return null;
}

/** What leaves the comparison empty or partial beyond failed runs: a manifest without runs, cells nobody ran. */
function notCompared(manifest: Manifest, compared: RunEntry[]): string[] {
  const out: string[] = [];
  if (manifest.runs.length === 0) out.push('the manifest lists no runs: nothing was compared');
  else if (compared.length === 0) out.push('no run could be compared (see the failed runs)');
  const ran = new Set(manifest.runs.map((r) => r.cell));
  const never = manifest.cells.filter((c) => !ran.has(c.id)).map((c) => c.id);
  if (never.length) out.push(`cells ${never.join(', ')} have no run in the manifest`);
  return out;
}

/** Writes RUN_DIR/findings.json atomically (a report never reads half a file). */
export async function writeFindings(runDir: string, findings: Findings): Promise<string> {
  const file = FINDINGS_FORMAT.pathIn(runDir);
  await FINDINGS_FORMAT.write(file, findings);
  return file;
}
