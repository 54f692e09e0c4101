import { z } from 'zod';
import { defineFormat } from '../artifact.js';

/**
 * explain.json: what `promptdiff explain` found out about one finding, written beside the probe
 * runs in RUN_DIR/explain/<finding-id>/. This schema is the source of truth (docs/findings.md,
 * "explain.json"); the fields the issue fixed (v, finding, axis, variants with text, codePoints,
 * minimal, rule, probes, runs) keep their meaning, the others are optional additions.
 */
export const EXPLAIN_VERSION = 1;
export const EXPLAIN_FILE = 'explain.json';

export const PROBE_STAGES = ['reproduce', 'minimise', 'generalise', 'threshold', 'corpus'] as const;
export const ProbeStage = z.enum(PROBE_STAGES);
export type ProbeStage = z.infer<typeof ProbeStage>;

export const Probe = z.object({
  /** The value of the axis in the probe cell (the other axes as in the variant's witness cell). */
  value: z.string(),
  /**
   * The text of the variant the probe produced at the finding's place: the baseline's text, a
   * variant's text, a new variant's text; null when it could not be told (see `status`).
   */
  variant: z.string().nullable(),
  /** ok: judged from a successful run; absent: the field was not sent; failed: the run failed (never read as "variant absent"); skipped: not run (budget, or not a valid value). */
  status: z.enum(['ok', 'absent', 'failed', 'skipped']),
  stage: ProbeStage,
  /** What the probe tested (a context of the generalisation, a corpus name, a ddmin level). */
  purpose: z.string().optional(),
  message: z.string().optional(),
});
export type Probe = z.infer<typeof Probe>;

/** How one part of the minimal value is tested in its field. */
export const RELATIONS = ['contains', 'starts-with', 'ends-with', 'domain-suffix', 'domain-prefix', 'label', 'equals', 'one-of', 'at-least', 'at-most', 'above', 'below'] as const;
export const Relation = z.enum(RELATIONS);
export type Relation = z.infer<typeof Relation>;

export const Condition = z.object({
  /** What the condition reads: "host", "path", "value", "local part", "domain", "time zone"… */
  field: z.string(),
  relation: Relation,
  /** The text (or number) the field is compared with; for one-of, the members. */
  value: z.string(),
  values: z.array(z.string()).optional(),
  /** true / false when a different-case probe said so; absent when it could not be tested. */
  caseInsensitive: z.boolean().optional(),
  /** domain-suffix: the bare value triggers too (`cn` as well as `*.cn`). */
  orEqual: z.boolean().optional(),
});
export type Condition = z.infer<typeof Condition>;

export const CodePoint = z.object({ cp: z.string(), name: z.string() });

export const ExplainedVariant = z.object({
  text: z.string(),
  codePoints: z.array(CodePoint),
  /** The minimal trigger values found (values of the axis); for a list rule, its members. */
  minimal: z.array(z.string()),
  /** One sentence for humans. */
  rule: z.string(),
  /** The rule as data: every condition must hold (a conjunction). */
  conditions: z.array(Condition).default([]),
  probes: z.array(Probe),
  /** Runs made for this variant (shared corpus runs counted for each variant they served). */
  runs: z.number().int().nonnegative(),
  /** The witness cell: where the variant showed, and the context every probe kept. */
  witness: z.object({ cell: z.string(), values: z.record(z.string(), z.string()) }).optional(),
  /** Wall time from the start of the explain until this variant's search ended (variants run side by side). */
  durationMs: z.number().nonnegative().optional(),
  /** The value the search started from (the witness's value of the axis, as the agent saw it). */
  from: z.string().optional(),
  notes: z.array(z.string()).default([]),
});
export type ExplainedVariant = z.infer<typeof ExplainedVariant>;

export const ExplainSchema = z.object({
  v: z.literal(EXPLAIN_VERSION),
  finding: z.string(),
  axis: z.string(),
  variants: z.array(ExplainedVariant),
  tool: z.object({ name: z.literal('promptdiff'), version: z.string() }).optional(),
  createdAt: z.string().optional(),
  /** The run directory explained, and the class, place and summary of the finding. */
  runDir: z.string().optional(),
  class: z.string().optional(),
  path: z.string().optional(),
  summary: z.string().optional(),
  /** How values of the axis were taken apart (url, hostname, zone, number, text, …). */
  shape: z.string().optional(),
  baseline: z.object({ text: z.string(), cell: z.string(), value: z.string() }).optional(),
  /** Runs in all (each once), the budget, and whether the search finished within it. */
  runsTotal: z.number().int().nonnegative().optional(),
  budget: z.number().int().positive().optional(),
  status: z.enum(['complete', 'budget-exhausted', 'runs-failed', 'interrupted']).optional(),
  durationMs: z.number().nonnegative().optional(),
  notes: z.array(z.string()).default([]),
});
export type Explain = z.infer<typeof ExplainSchema>;

/** RUN_DIR/explain/<finding-id>/explain.json. */
export const EXPLAIN_FORMAT = defineFormat({
  file: EXPLAIN_FILE,
  limit: 'explain',
  version: EXPLAIN_VERSION,
  schema: ExplainSchema,
  what: 'a promptdiff explanation',
  hint: 'rerun promptdiff explain',
});
