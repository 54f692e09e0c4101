import { createHash } from 'node:crypto';
import { appendFile, copyFile, link, lstat, mkdir, readdir, readFile, realpath, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { defineFormat } from '../artifact.js';
import { isWithin } from '../safe-path.js';
import { ScenarioError } from './scenario-file.js';
import { ManifestSchema, SafeId, type Manifest, type RunEntry } from './manifest.js';
import { MANIFEST_FILE, ManifestStore } from './manifest-store.js';
import { shardOf, type Shard } from './matrix.js';
import { EXIT } from '../errors.js';

/**
 * Sharded runs (`promptdiff run SCENARIO --shard K/N --out DIR`) and their merge.
 *
 * A shard directory is an ordinary run directory whose manifest lists every run of the matrix; the
 * runs of other shards stay `pending`. Beside the manifest, `shard.json` says which shard it is, so
 * `--resume DIR` finishes the same slice and `promptdiff merge` can tell a missing shard from an
 * unfinished one. `mergeShards` joins shard directories into one run directory whose manifest and
 * captures are those an unsharded run would have written, so `promptdiff diff` treats it the same.
 */

export const SHARD_FILE = 'shard.json';
/** Written by merge beside the merged manifest: where each run came from. */
export const MERGE_FILE = 'merge.json';
const UNATTRIBUTED = path.join('unattributed', 'exchanges.jsonl');

export const ShardFileSchema = z.object({
  v: z.literal(1),
  /** "K/N" */
  shard: z.string(),
  index: z.number().int().positive(),
  count: z.number().int().positive(),
  /** Ids of the runs this shard owns, in matrix order. */
  runs: z.array(SafeId),
});
export type ShardFile = z.infer<typeof ShardFileSchema>;

/** SHARD_DIR/shard.json: which runs of the matrix a shard owns (a shard is untrusted input). */
export const SHARD_FORMAT = defineFormat({
  file: SHARD_FILE,
  limit: 'shard',
  version: 1,
  schema: ShardFileSchema,
  what: 'a promptdiff shard file',
  hint: 'was it edited by hand?',
});

export const MergeFileSchema = z.object({
  v: z.literal(1),
  mergedAt: z.string(),
  sources: z.array(
    z.object({
      dir: z.string(),
      shard: z.string().nullable(),
      tool: z.object({ name: z.string(), version: z.string() }),
      createdAt: z.string(),
      runs: z.array(z.string()),
    }),
  ),
});

/** OUT/merge.json: where a merged run directory's runs came from. */
export const MERGE_FORMAT = defineFormat({
  file: MERGE_FILE,
  limit: 'shard',
  version: 1,
  schema: MergeFileSchema,
  what: 'a promptdiff merge record',
});

export function shardLabel(shard: Shard): string {
  return `${shard.index}/${shard.count}`;
}

export async function readShardFile(dir: string): Promise<ShardFile | null> {
  return SHARD_FORMAT.read(SHARD_FORMAT.pathIn(dir), { fail: (message) => new ScenarioError(message) });
}

/**
 * A shard directory is untrusted input: what merge links into OUT must be the shard's own regular
 * files. A run directory or file that is a symbolic link, or resolves outside the shard, is refused
 * (linked into OUT it would publish whatever it points at).
 */
async function checkOwnTree(root: string, dir: string): Promise<void> {
  const info = await lstat(dir);
  if (info.isSymbolicLink()) throw new ScenarioError(`${dir}: is a symbolic link; a shard holds only its own files and directories`);
  const realRoot = await realpath(root);
  const real = await realpath(dir);
  if (!isWithin(realRoot, real)) throw new ScenarioError(`${dir}: resolves outside ${root} (to ${real}); refusing to merge it`);
}

export async function writeShardFile(dir: string, shard: Shard, runs: string[]): Promise<void> {
  const body: ShardFile = { v: 1, shard: shardLabel(shard), index: shard.index, count: shard.count, runs };
  await SHARD_FORMAT.write(SHARD_FORMAT.pathIn(dir), body);
}

export interface MergeOptions {
  /** The merged run directory to create (must not exist or be empty). */
  outDir: string;
  /** Shard directories, in any order. */
  dirs: string[];
  /** Copy capture files instead of hard-linking them (hard links fall back to copies across file systems). */
  copy?: boolean;
}

export interface MissingGroup {
  /** "2/3" when the owning shard is known (all shards agree on N), else null. */
  shard: string | null;
  /** The directory given for that shard, when one was (its runs are then unfinished, not absent). */
  dir: string | null;
  runs: string[];
}

export interface MergeResult {
  /** 0 merged and every run ok; 3 runs missing (nothing written) or some merged run not ok. */
  exitCode: typeof EXIT.ok | typeof EXIT.runsFailed;
  outDir: string;
  /** Null when nothing was written (runs missing). */
  manifest: Manifest | null;
  /** Runs no shard directory has a result for, grouped by owning shard. */
  missing: MissingGroup[];
  /** Merged runs whose status is not ok (failed, timeout, no-traffic, error). */
  notOk: RunEntry[];
  warnings: string[];
  /** Files hard-linked and copied into the merged directory. */
  files: { linked: number; copied: number };
  /** One human-readable paragraph: what happened and what to do next. */
  message: string;
}

interface Source {
  dir: string;
  manifest: Manifest;
  shard: ShardFile | null;
  label: string;
}

async function loadSource(dir: string): Promise<Source> {
  const abs = path.resolve(dir);
  const manifest = await ManifestStore.read(abs);
  if (!manifest) {
    throw new ScenarioError(`${abs}: no ${MANIFEST_FILE}; give the directories written by  promptdiff run SCENARIO --shard K/N --out DIR`);
  }
  const shard = await readShardFile(abs);
  return { dir: abs, manifest, shard, label: shard ? `${abs} (shard ${shard.shard})` : abs };
}

/** JSON with object keys sorted, so key order never makes two equal values differ. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function short(value: unknown): string {
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

/** Refuses to merge directories that did not run the same matrix of the same scenario. */
function checkSameScenario(ref: Source, other: Source): void {
  const a = ref.manifest.scenario;
  const b = other.manifest.scenario;
  if (canonical(a) !== canonical(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => canonical(a[k]) !== canonical(b[k]));
    const what = keys.map((k) => `${k}: ${short(a[k])} vs ${short(b[k])}`).join('; ');
    throw new ScenarioError(
      `${other.label} ran a different scenario than ${ref.label} (${what}): ` +
        'merge only shards of one scenario, run from the same file with the same paths (agent command and workspace are resolved to absolute paths)',
    );
  }
  // A `latest` or a range resolves when a shard starts: shards run apart may run different releases,
  // and the differ would report the release change as variation along whatever axis split them.
  const agent = (m: Manifest) => ({ version: m.agent.version, integrity: m.agent.integrity ?? null, command: m.agent.command });
  if (canonical(agent(ref.manifest)) !== canonical(agent(other.manifest))) {
    const name = ref.manifest.agent.preset ?? ref.manifest.agent.command[0] ?? 'the agent';
    const which = (m: Manifest) => (m.agent.version ? `${name} ${m.agent.version}` : m.agent.command.join(' '));
    throw new ScenarioError(
      `${other.label} ran ${which(other.manifest)} but ${ref.label} ran ${which(ref.manifest)}: merged, the release change would look like a finding. ` +
        'Pin the agent version in the scenario and rerun the shards that differ',
    );
  }
  const layout = (m: Manifest) => canonical({ axes: m.axes, factors: m.factors ?? null, cells: m.cells, runs: m.runs.map((r) => [r.id, r.cell, r.rep]), expect: m.expect });
  if (layout(ref.manifest) !== layout(other.manifest)) {
    throw new ScenarioError(
      `${other.label} and ${ref.label} expanded the scenario into different cells or runs (different promptdiff versions?): rerun all shards with one version`,
    );
  }
}

async function fileDigest(file: string): Promise<string | null> {
  try {
    return createHash('sha256').update(await readFile(file)).digest('hex');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function describeRun(r: RunEntry): string {
  const exit = r.exitCode === null ? (r.signal ? `, ${r.signal}` : '') : `, exit ${r.exitCode}`;
  return `${r.status}, ${r.exchanges} exchange${r.exchanges === 1 ? '' : 's'}${exit}, started ${r.startedAt ?? 'never'}`;
}

/** Hard-links (or copies) every file under `from` into `to`. */
async function linkTree(from: string, to: string, copy: boolean, files: { linked: number; copied: number }): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const src = path.join(from, entry.name);
    const dst = path.join(to, entry.name);
    if (entry.isDirectory()) {
      await linkTree(src, dst, copy, files);
    } else if (!entry.isFile()) {
      throw new ScenarioError(`${src}: not a regular file (${entry.isSymbolicLink() ? 'a symbolic link' : 'a special file'}); a shard holds only its own files`);
    } else {
      if (!copy) {
        try {
          await link(src, dst);
          files.linked += 1;
          continue;
        } catch (err) {
          // Another file system, or one without hard links: copy instead.
          if (!['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
        }
      }
      await copyFile(src, dst);
      files.copied += 1;
    }
  }
}

function mergeIsolation(sources: Source[], warnings: string[]): Manifest['isolation'] {
  const all = sources.map((s) => s.manifest.isolation);
  const present = all.filter((i): i is NonNullable<typeof i> => i !== undefined);
  if (present.length === 0) return undefined;
  const first = present[0]!;
  const unique = <T>(xs: T[]) => [...new Set(xs)];
  const merged: NonNullable<Manifest['isolation']> = {
    namespaces: present.length === all.length && present.every((i) => i.namespaces),
    samePaths: present.length === all.length && present.every((i) => i.samePaths),
    sandboxRoot: present.every((i) => i.sandboxRoot === first.sandboxRoot) ? first.sandboxRoot : null,
    clock: {
      requested: first.clock.requested,
      pinned: present.length === all.length && present.every((i) => i.clock.pinned),
      detail: unique(present.map((i) => i.clock.detail)).join(' | '),
    },
    warnings: unique(present.flatMap((i) => i.warnings)),
  };
  const differs = (f: (i: NonNullable<Manifest['isolation']>) => unknown) => present.length !== all.length || present.some((i) => canonical(f(i)) !== canonical(f(first)));
  if (differs((i) => [i.namespaces, i.samePaths, i.sandboxRoot])) {
    const w =
      'shards ran with different isolation (' +
      sources.map((s) => `${s.label}: ${s.manifest.isolation ? (s.manifest.isolation.samePaths ? 'same paths' : 'paths differ per run') : 'unknown'}`).join(', ') +
      '): expect path noise; run every shard on machines with user namespaces';
    warnings.push(w);
    merged.warnings.push(w);
  }
  const machines = present.map((i) => i.machine);
  if (machines.some((m) => m)) {
    const known = machines.filter((m): m is NonNullable<typeof m> => m !== undefined);
    const skipped = new Map<string, string>();
    for (const m of known) for (const sk of m.skipped) if (!skipped.has(sk.factor)) skipped.set(sk.factor, sk.reason);
    merged.machine = {
      ...known[0]!,
      // A factor skipped on any machine was not compared in all its cells: it stays skipped.
      skipped: [...skipped].map(([factor, reason]) => ({ factor, reason })),
      notes: unique(known.flatMap((m) => m.notes)),
    };
    if (known.length !== machines.length || differs((i) => [i.machine?.etcView, i.machine?.uts, i.machine?.home, i.machine?.neutral])) {
      const w =
        'shards presented the machine differently (' +
        sources.map((s) => `${s.label}: ${s.manifest.isolation?.machine ? s.manifest.isolation.machine.detail : 'no machine factors'}`).join(', ') +
        '): a factor applied on one machine and not on another shows up as noise or a false finding';
      warnings.push(w);
      merged.warnings.push(w);
    }
  }
  if (differs((i) => i.clock.pinned)) {
    const w = `the clock was pinned in some shards only (${sources.map((s) => `${s.label}: ${s.manifest.isolation?.clock.pinned ? 'pinned' : 'not pinned'}`).join(', ')}): install faketime on every machine`;
    warnings.push(w);
    merged.warnings.push(w);
  }
  return merged;
}

function formatMissing(groups: MissingGroup[], total: number, scenarioFile: string | null): string {
  const count = groups.reduce((n, g) => n + g.runs.length, 0);
  const list = (runs: string[]) => (runs.length > 8 ? `${runs.slice(0, 8).join(', ')}, … (${runs.length} in all)` : runs.join(', '));
  const lines = [`cannot merge: ${count} of ${total} runs are missing; nothing was written`];
  for (const g of groups) {
    if (g.shard && g.dir) {
      lines.push(`  shard ${g.shard} in ${g.dir}: ${g.runs.length} run(s) not finished (${list(g.runs)}): finish with  promptdiff run --resume ${g.dir}`);
    } else if (g.shard) {
      lines.push(
        `  shard ${g.shard}: no directory given for it (${list(g.runs)}): run  promptdiff run ${scenarioFile ?? 'SCENARIO'} --shard ${g.shard} --out DIR  and add DIR`,
      );
    } else {
      lines.push(`  ${list(g.runs)}: no directory given has a result for them (shards disagree on N, so which shard owns them is unknown)`);
    }
  }
  return lines.join('\n');
}

/**
 * Joins shard directories into one run directory at `outDir`. Validates that they ran the same
 * scenario (errors), that no run has two different results (error), and that every run has a result
 * (otherwise nothing is written and `missing` names the runs, exit code 3).
 */
export async function mergeShards(opts: MergeOptions): Promise<MergeResult> {
  if (opts.dirs.length === 0) throw new ScenarioError('merge: give at least one shard directory');
  const outDir = path.resolve(opts.outDir);
  const warnings: string[] = [];

  const sources: Source[] = [];
  const seen = new Map<string, string>();
  for (const dir of opts.dirs) {
    const source = await loadSource(dir);
    const real = await realpath(source.dir);
    const before = seen.get(real);
    if (before) throw new ScenarioError(`${dir}: given twice (also as ${before})`);
    seen.set(real, dir);
    sources.push(source);
  }
  const outReal = await realpath(outDir).catch(() => null);
  if (outReal && seen.has(outReal)) throw new ScenarioError(`${outDir}: the merged directory cannot be one of the shard directories`);

  const ref = sources[0]!;
  for (const s of sources.slice(1)) checkSameScenario(ref, s);
  const versions = [...new Set(sources.map((s) => s.manifest.tool.version))];
  if (versions.length > 1) {
    warnings.push(
      `shards were made by different promptdiff versions (${sources.map((s) => `${s.label}: ${s.manifest.tool.version}`).join(', ')}); the merged manifest says ${ref.manifest.tool.version}`,
    );
  }
  const shardCounts = [...new Set(sources.flatMap((s) => (s.shard ? [s.shard.count] : [])))];
  if (shardCounts.length > 1) warnings.push(`shards disagree on N (${shardCounts.join(', ')}): merging by run, which is fine as long as every run is covered once`);
  for (const s of sources) if (!s.shard) warnings.push(`${s.dir} has no ${SHARD_FILE}: taking its completed runs as they are`);

  // Pick each run's result: exactly one directory that is not pending, or several that agree.
  const runs = ref.manifest.runs;
  const chosen: Array<{ entry: RunEntry; from: Source }> = [];
  const missingIdx: number[] = [];
  const conflicts: string[] = [];
  for (const [i, planned] of runs.entries()) {
    const holders = sources.flatMap((s) => {
      const entry = s.manifest.runs[i]!;
      return entry.status === 'pending' ? [] : [{ entry, from: s }];
    });
    if (holders.length === 0) {
      missingIdx.push(i);
      continue;
    }
    const first = holders[0]!;
    for (const other of holders.slice(1)) {
      const same =
        canonical(other.entry) === canonical(first.entry) &&
        (await fileDigest(path.join(other.from.dir, 'runs', planned.id, 'exchanges.jsonl'))) ===
          (await fileDigest(path.join(first.from.dir, 'runs', planned.id, 'exchanges.jsonl')));
      if (same) warnings.push(`run ${planned.id} is in both ${first.from.label} and ${other.from.label} (identical); taking it once`);
      else conflicts.push(`run ${planned.id}: ${first.from.label} has (${describeRun(first.entry)}), ${other.from.label} has (${describeRun(other.entry)})`);
    }
    chosen.push(first);
  }
  if (conflicts.length) {
    const shown = conflicts.slice(0, 10).map((c) => `  ${c}`);
    if (conflicts.length > 10) shown.push(`  … and ${conflicts.length - 10} more`);
    throw new ScenarioError(
      `cannot merge: ${conflicts.length} run(s) have different results in two directories (the same shard run twice?); give only one of them:\n${shown.join('\n')}`,
    );
  }

  if (missingIdx.length) {
    const n = shardCounts.length === 1 && sources.every((s) => s.shard) ? shardCounts[0]! : null;
    const groups = new Map<string, MissingGroup>();
    for (const i of missingIdx) {
      const shard = n === null ? null : `${shardOf(i, n)}/${n}`;
      const key = shard ?? '?';
      let g = groups.get(key);
      if (!g) {
        g = { shard, dir: shard ? (sources.find((s) => s.shard?.shard === shard)?.dir ?? null) : null, runs: [] };
        groups.set(key, g);
      }
      g.runs.push(runs[i]!.id);
    }
    const missing = [...groups.values()].sort((a, b) => (a.shard ?? '').localeCompare(b.shard ?? '', undefined, { numeric: true }));
    return {
      exitCode: EXIT.runsFailed,
      outDir,
      manifest: null,
      missing,
      notOk: [],
      warnings,
      files: { linked: 0, copied: 0 },
      message: formatMissing(missing, runs.length, ref.manifest.scenarioFile),
    };
  }

  const existing = await readdir(outDir).catch(() => []);
  if (existing.length > 0) throw new ScenarioError(`${outDir} exists and is not empty: choose another output directory for the merge`);
  await mkdir(outDir, { recursive: true });

  const files = { linked: 0, copied: 0 };
  let manifest: Manifest;
  try {
    for (const { entry, from } of chosen) {
      const src = path.join(from.dir, 'runs', entry.id);
      const present = await lstat(src).then(
        () => true,
        () => false,
      );
      if (present) await checkOwnTree(from.dir, src);
      if (present) await linkTree(src, path.join(outDir, 'runs', entry.id), Boolean(opts.copy), files);
      else if (entry.exchanges > 0) warnings.push(`${src}: missing, but the manifest counts ${entry.exchanges} exchanges`);
    }
    // Exchanges that reached a shard's proxy outside any run: kept together, like an unsharded run does.
    for (const s of sources) {
      const strayFile = path.join(s.dir, UNATTRIBUTED);
      const strayHere = await lstat(strayFile).then(
        () => true,
        () => false,
      );
      if (strayHere) await checkOwnTree(s.dir, strayFile);
      const stray = strayHere ? await readFile(strayFile) : null;
      if (stray && stray.length > 0) {
        await mkdir(path.join(outDir, 'unattributed'), { recursive: true });
        await appendFile(path.join(outDir, UNATTRIBUTED), stray);
        warnings.push(`${s.label} has exchanges outside any run listener; appended to ${UNATTRIBUTED}`);
      }
    }

    const isolation = mergeIsolation(sources, warnings);
    manifest = ManifestSchema.parse({
      ...ref.manifest,
      createdAt: sources.map((s) => s.manifest.createdAt).sort()[0]!,
      runs: chosen.map((c) => c.entry),
      ...(isolation ? { isolation } : {}),
    });
    await MERGE_FORMAT.write(MERGE_FORMAT.pathIn(outDir), {
      v: 1,
      mergedAt: new Date().toISOString(),
      sources: sources.map((s) => ({
        dir: s.dir,
        shard: s.shard?.shard ?? null,
        tool: s.manifest.tool,
        createdAt: s.manifest.createdAt,
        runs: chosen.filter((c) => c.from === s).map((c) => c.entry.id),
      })),
    });
    // The manifest last: a directory with a manifest is a complete run directory.
    await new ManifestStore(outDir, manifest).save();
  } catch (err) {
    await rm(outDir, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }

  const notOk = manifest.runs.filter((r) => r.status !== 'ok');
  const exchanges = manifest.runs.reduce((n, r) => n + r.exchanges, 0);
  const lines = [
    `merged ${sources.length} director${sources.length === 1 ? 'y' : 'ies'}: ${manifest.runs.length} runs in ${manifest.cells.length} cells, ` +
      `${exchanges} exchanges (${files.linked} files linked, ${files.copied} copied) → ${outDir}`,
  ];
  if (notOk.length) {
    lines.push(
      `${notOk.length} run(s) did not complete (${notOk
        .slice(0, 8)
        .map((r) => `${r.id} ${r.status}`)
        .join(', ')}${notOk.length > 8 ? ', …' : ''}): rerun them with  promptdiff run --resume ${outDir}  or diff without them`,
    );
  }
  lines.push(`next: promptdiff diff ${outDir}`);
  return { exitCode: notOk.length ? EXIT.runsFailed : EXIT.ok, outDir, manifest, missing: [], notOk, warnings, files, message: lines.join('\n') };
}
