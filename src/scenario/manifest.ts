import { z } from 'zod';
import { defineFormat } from '../artifact.js';

/**
 * The run directory is the artifact a researcher publishes:
 *
 *   RUN_DIR/manifest.json                 this schema
 *   RUN_DIR/runs/<runId>/exchanges.jsonl  capture records (src/capture/schema.ts) of that run only
 *   RUN_DIR/runs/<runId>/stdout.txt, stderr.txt
 *   RUN_DIR/findings.json                 written by `promptdiff diff` (src/diff/findings-schema.ts)
 */
export const MANIFEST_VERSION = 1;

/**
 * Run and cell ids name directories (RUN_DIR/runs/<id>/) and a run directory may come from
 * anywhere (a CI artifact, a shard): an id is one plain path segment, never `..` or a path.
 */
export const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const SafeId = z.string().regex(SAFE_ID, 'not a safe id (letters, digits, "." "_" "-", no path separators)');

export const CellSchema = z.object({
  /** Stable id derived from the cell's position in the expanded matrix: c001, c002, ... */
  id: SafeId,
  /** Axis name → value for this cell (env var axes, plus the pseudo-axis `proxy_url` when used). */
  values: z.record(z.string(), z.string()),
});
export type Cell = z.infer<typeof CellSchema>;

/** A machine factor as a run directory used it (src/scenario/factors/): rerunnable without the catalogue. */
export const FactorDefinition = z.object({
  kind: z.string(),
  summary: z.string(),
  baseline: z.string(),
  /** Applied to every run that does not vary the factor. */
  neutral: z.string().optional(),
  /** Value id → the kind's parameters (for plain values, the value itself). */
  values: z.record(z.string(), z.unknown()),
  /**
   * Value id → the strings a program could copy from that value into a prompt (its parameters'
   * strings, names, hosts, file contents): the differ's echo detection (optional: added later).
   */
  shows: z.record(z.string(), z.array(z.string())).optional(),
});
export type FactorDefinition = z.infer<typeof FactorDefinition>;

export const SkippedFactor = z.object({ factor: z.string(), reason: z.string() });
export type SkippedFactor = z.infer<typeof SkippedFactor>;

/** What the runs' machine was made of: how /etc was presented, the neutral values, what could not be applied. */
export const MachineIsolation = z.object({
  etcView: z.enum(['overlay', 'copy']).nullable(),
  uts: z.boolean(),
  home: z.boolean(),
  detail: z.string(),
  /** Factor → value applied to every run that does not vary it (files and hostname, not variables). */
  neutral: z.record(z.string(), z.string()),
  /** Factors of the design this host could not apply: their cells were run without them. */
  skipped: z.array(SkippedFactor),
  /** How values were applied, where a reader should know (e.g. a locale glibc has no data for). */
  notes: z.array(z.string()),
});
export type MachineIsolation = z.infer<typeof MachineIsolation>;

export const RunStatus = z.enum(['pending', 'ok', 'failed', 'timeout', 'no-traffic', 'error']);
export type RunStatus = z.infer<typeof RunStatus>;

export const RunEntry = z.object({
  /** <cellId>-r<rep>, e.g. c003-r2 */
  id: SafeId,
  cell: z.string(),
  rep: z.number().int().positive(),
  /** The complete environment the agent process was started with (secrets redacted). */
  env: z.record(z.string(), z.string()),
  startedAt: z.string().nullable(),
  endedAt: z.string().nullable(),
  durationMs: z.number().nullable(),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  status: RunStatus,
  exchanges: z.number().int().nonnegative(),
  /** Human-readable reason when status is not ok. */
  message: z.string().optional(),
});
export type RunEntry = z.infer<typeof RunEntry>;

/** Whether secret values were written down, and where the scenario held them (optional: added after v1 shipped). */
export const SecretsRecord = z.object({
  policy: z.enum(['redacted', 'kept']),
  /** Scenario fields that held a secret (`env.set.ANTHROPIC_API_KEY`, `axes.GH_TOKEN[1]`, `proxy_urls[0]`). */
  fields: z.array(z.string()),
});
export type SecretsRecord = z.infer<typeof SecretsRecord>;

export const ManifestSchema = z.object({
  v: z.literal(MANIFEST_VERSION),
  tool: z.object({ name: z.literal('promptdiff'), version: z.string() }),
  createdAt: z.string(),
  /** The scenario file as given and the scenario after defaults were applied. */
  scenarioFile: z.string().nullable(),
  scenario: z.record(z.string(), z.unknown()),
  agent: z.object({
    /** argv of a run (a preset's command as built for the first run; the program is the installed entry point). */
    command: z.array(z.string()),
    preset: z.string().nullable(),
    /** Presets: the exact version installed and run (a `latest` or range in the scenario is resolved first). */
    version: z.string().nullable(),
    /** Presets (optional: added after v1 shipped): what the scenario asked for, the npm package, its registry integrity. */
    requested: z.string().optional(),
    npmPackage: z.string().optional(),
    integrity: z.string().nullable().optional(),
    dialect: z.string().optional(),
  }),
  /** Axis name → the values it takes, in scenario order (variables, then machine factors, then proxy_url). */
  axes: z.record(z.string(), z.array(z.string())),
  /** Definitions of the machine factors among the axes and of the neutral ones (optional: added after v1 shipped). */
  factors: z.record(z.string(), FactorDefinition).optional(),
  cells: z.array(CellSchema),
  runs: z.array(RunEntry),
  /** Rules from the scenario marking variation as expected: a JSON path pattern allowed to follow an axis. */
  expect: z.array(z.object({ path: z.string(), axis: z.string() })).default([]),
  /**
   * How runs were isolated (optional: added by the runner after v1 shipped; older manifests lack it).
   * When `samePaths` is false, HOME and the working directory differ between runs: expect path noise.
   */
  isolation: z
    .object({
      namespaces: z.boolean(),
      samePaths: z.boolean(),
      /** The HOME/work/tmp root every run saw (null when paths differ per run). */
      sandboxRoot: z.string().nullable(),
      clock: z.object({ requested: z.string(), pinned: z.boolean(), detail: z.string() }),
      warnings: z.array(z.string()),
      /** Machine factors (optional: added after v1 shipped). */
      machine: MachineIsolation.optional(),
    })
    .optional(),
  /** Secret values: tagged `[redacted:…]` unless the run was made with --keep-secrets. */
  secrets: SecretsRecord.optional(),
}).superRefine((m, ctx) => {
  // Every reader indexes runs and cells by id: a duplicate or a dangling reference is a damaged file.
  const cells = new Set<string>();
  for (const [i, c] of m.cells.entries()) {
    if (cells.has(c.id)) ctx.addIssue({ code: 'custom', path: ['cells', i, 'id'], message: `"${c.id}" appears twice` });
    cells.add(c.id);
  }
  const runs = new Set<string>();
  for (const [i, r] of m.runs.entries()) {
    if (runs.has(r.id)) ctx.addIssue({ code: 'custom', path: ['runs', i, 'id'], message: `"${r.id}" appears twice` });
    runs.add(r.id);
    if (!cells.has(r.cell)) ctx.addIssue({ code: 'custom', path: ['runs', i, 'cell'], message: `"${r.cell}" is not a cell of this manifest` });
  }
});
export type Manifest = z.infer<typeof ManifestSchema>;

/** RUN_DIR/manifest.json (owned by ManifestStore while a run goes on). */
export const MANIFEST_FORMAT = defineFormat({
  file: 'manifest.json',
  limit: 'manifest',
  version: MANIFEST_VERSION,
  schema: ManifestSchema,
  what: 'a promptdiff manifest',
  // Rewritten after every run from what the runner built out of the validated scenario: validating
  // a large matrix's manifest each time would cost more than the write.
  validateOnWrite: false,
});
