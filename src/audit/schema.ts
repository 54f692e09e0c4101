import { z } from 'zod';
import { defineFormat } from '../artifact.js';
import { SecretsRecord, SkippedFactor } from '../scenario/manifest.js';
import { STAGES } from './design.js';

/**
 * RUN_DIR/audit.json: what `promptdiff audit` decided and why, beside the ordinary run directory
 * (manifest.json, runs/, findings.json, report.html) that holds every stage's runs.
 * Bump AUDIT_VERSION when a field changes meaning; add optional fields freely.
 */
export const AUDIT_VERSION = 1;

export const AuditOptions = z.object({
  /** Factors asked for (--factors, or the scenario's factors); null: the whole catalogue. */
  factors: z.array(z.string()).nullable(),
  /** Profiles asked for (--profiles); null: all of the catalogue's. */
  profiles: z.array(z.string()).nullable(),
  /** Screen every catalogue value one at a time, not only the profiles' values. */
  allValues: z.boolean(),
  budget: z.number().int().positive(),
});
export type AuditOptions = z.infer<typeof AuditOptions>;

export const StageRecord = z.object({
  name: z.enum(STAGES),
  /** Cells this stage added, with why each is there. */
  cells: z.array(z.object({ id: z.string(), purposes: z.array(z.string()) })),
  runs: z.number().int().nonnegative(),
  startedAt: z.string(),
  durationMs: z.number().nonnegative(),
  /** The budget cut this stage short: these many planned cells were not run. */
  cellsLeftOut: z.number().int().nonnegative(),
  /** Findings over every cell so far, when the stage ended; `covert` lists the covert ones (what was found by when). */
  findings: z.object({
    total: z.number().int(),
    byClass: z.record(z.string(), z.number().int()),
    factors: z.array(z.string()),
    covert: z.array(z.object({ class: z.string(), factors: z.array(z.string()), path: z.string() })).default([]),
  }),
  /** Why the stage planned no cells (e.g. no profile needed folding over). */
  note: z.string().optional(),
});
export type StageRecord = z.infer<typeof StageRecord>;

export const MatteredRecord = z.object({
  factor: z.string(),
  findings: z.array(z.string()),
  classes: z.array(z.string()),
  triggering: z.array(z.string()),
  with: z.array(z.string()),
  covert: z.boolean(),
  covertTriggering: z.array(z.string()),
});

export const VerdictRow = z.object({
  /** The machine properties that determine the change (two or more: an interaction). */
  factors: z.array(z.string()),
  interaction: z.boolean(),
  class: z.string(),
  /** Field path of the first occurrence (body.system[0].text, headers.user-agent, …). */
  path: z.string(),
  requests: z.number().int().positive(),
  summary: z.string(),
  finding: z.string(),
});
export type VerdictRow = z.infer<typeof VerdictRow>;

export const AuditSchema = z.object({
  v: z.literal(AUDIT_VERSION),
  tool: z.object({ name: z.literal('promptdiff'), version: z.string() }),
  createdAt: z.string(),
  scenarioFile: z.string().nullable(),
  /** The scenario as given (before the audit added its factors and cells). */
  scenario: z.record(z.string(), z.unknown()),
  options: AuditOptions,
  factors: z.object({
    tried: z.array(z.object({ name: z.string(), kind: z.string(), baseline: z.string(), values: z.array(z.string()) })),
    /** Asked for, but this machine could not apply them: not compared, and the exit code says so. */
    skipped: z.array(SkippedFactor),
    /** Catalogue factors no run of this scenario can vary (MAC address; a proxy URL in reverse route): listed, never tried. */
    notApplicable: z.array(SkippedFactor),
  }),
  profiles: z.array(z.object({ name: z.string(), summary: z.string(), values: z.record(z.string(), z.string()) })),
  stages: z.array(StageRecord),
  runs: z.object({
    total: z.number().int(),
    ok: z.number().int(),
    /** What a full factorial of the same factors and values would have needed (× repetitions). */
    fullFactorial: z.number(),
  }),
  mattered: z.array(MatteredRecord),
  verdict: z.array(VerdictRow),
  status: z.enum(['complete', 'runs-failed', 'interrupted']),
  exitCode: z.number().int(),
  /** Whether the scenario's secret values were written down (optional: added after v1 shipped). */
  secrets: SecretsRecord.optional(),
});
export type Audit = z.infer<typeof AuditSchema>;

/** AUDIT_DIR/audit.json. */
export const AUDIT_FORMAT = defineFormat({
  file: 'audit.json',
  limit: 'audit',
  version: AUDIT_VERSION,
  schema: AuditSchema,
  what: 'a promptdiff audit',
});
