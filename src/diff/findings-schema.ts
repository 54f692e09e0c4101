import { z } from 'zod';
import { FINDING_CLASSES } from './finding-classes.js';
import { defineFormat } from '../artifact.js';

/**
 * findings.json: what `promptdiff diff` writes and every report (and other tools) read.
 * Bump FINDINGS_VERSION when a field changes meaning; add optional fields freely.
 */
export const FINDINGS_VERSION = 1;

export { FINDING_CLASSES, CODE_POINT_CLASSES, FINDING_CLASS_INFO } from './finding-classes.js';
/** The classes and what each means: src/diff/finding-classes.ts. */
export const FindingClass = z.enum(FINDING_CLASSES);
export type FindingClass = z.infer<typeof FindingClass>;

export const CodePointInfo = z.object({
  /** "U+2019" */
  cp: z.string(),
  char: z.string(),
  /** "RIGHT SINGLE QUOTATION MARK", or a label like "<control-0007>" */
  name: z.string(),
});
export type CodePointInfo = z.infer<typeof CodePointInfo>;

/** One edit turning the baseline group's text into this group's text. */
export const Change = z.object({
  /** Offsets in UTF-16 code units into the full field string (baseline / this group's representative run). */
  offsetBefore: z.number().int().nonnegative(),
  offsetAfter: z.number().int().nonnegative(),
  /** The same offsets counted in code points, for tools that do not speak UTF-16. */
  cpOffsetBefore: z.number().int().nonnegative(),
  cpOffsetAfter: z.number().int().nonnegative(),
  before: z.string(),
  after: z.string(),
  removed: z.array(CodePointInfo),
  added: z.array(CodePointInfo),
});
export type Change = z.infer<typeof Change>;

export const Group = z.object({
  /** The span's text in this variant ("" when the variant is an absence). */
  text: z.string(),
  /** Attributing axes → the values that lead to this variant (union per axis, for display). */
  values: z.record(z.string(), z.array(z.string())),
  /** The exact axis-value combinations (restricted to the attributing axes) that lead here. */
  combos: z.array(z.record(z.string(), z.string())),
  /** The group seen in most cells; other groups are diffed against it. */
  baseline: z.boolean(),
  cells: z.array(z.string()),
  runs: z.array(z.string()),
  /**
   * Where the span starts in the representative run's full field string (UTF-16 / code points), in
   * the finding's first occurrence; `locations[i].groups` has the same for every occurrence.
   */
  offset: z.number().int().nonnegative(),
  cpOffset: z.number().int().nonnegative(),
  context: z.object({ before: z.string(), after: z.string() }),
  /** Minimal diff from the baseline group (empty for the baseline). */
  changes: z.array(Change),
  /** Key into `texts`: the full field value of the representative run (the whole prompt block). */
  textRef: z.string().nullable(),
  /** For presence findings: whether the request or field is there in this group. */
  present: z.boolean().optional(),
});
export type Group = z.infer<typeof Group>;

export const Attribution = z.object({
  /** Smallest set of axes whose values determine the variant (empty when no set does). */
  axes: z.array(z.string()),
  /** False when even all axes together do not determine the variant. */
  determined: z.boolean(),
  /** Only a combination of two or more axes determines it. */
  interaction: z.boolean(),
  /** Other axis sets of the same size that explain it equally well: the design cannot separate them. */
  confounded: z.array(z.array(z.string())),
  /** Cells (axis → value) that, if added to the matrix, would tell the confounded sets apart. */
  suggestedCells: z.array(z.record(z.string(), z.string())),
  groups: z.array(Group),
});
export type Attribution = z.infer<typeof Attribution>;

export const Location = z.object({
  /** Aligned exchange key: the same logical request in every run (labelled with the first run's URL path). */
  exchange: z.string(),
  /** Field inside the exchange: request.line, headers.user-agent, body.system[2].text, ... */
  path: z.string(),
  dialect: z.string(),
  endpoint: z.string().nullable(),
  model: z.string().nullable(),
  method: z.string(),
  urlPath: z.string(),
  /** 1-based position of the aligned request among requests with the same dialect, endpoint, model and method (URL path for unrecognised traffic), after aligning every run by content. */
  ordinal: z.number().int().positive(),
});
export type Location = z.infer<typeof Location>;

/** A span in the baseline representative string: UTF-16 offset and length, and the offset in code points. */
export const Span = z.object({ offset: z.number().int(), length: z.number().int(), cpOffset: z.number().int() });
export type Span = z.infer<typeof Span>;

/**
 * One request in which the finding's change occurs. The same change repeated in several aligned
 * requests (the system prompt of every call, a header on every request) is one finding with one
 * occurrence per request.
 */
export const Occurrence = Location.extend({
  /** Stable id of the change in this request alone (derived from exchange, path and span). */
  id: z.string(),
  /** Span in this request's baseline representative string; null for presence findings. */
  span: Span.nullable(),
  /** Per attribution group, in the same order as `attribution.groups`: where the span sits in this request. */
  groups: z.array(
    z.object({
      offset: z.number().int().nonnegative(),
      cpOffset: z.number().int().nonnegative(),
      textRef: z.string().nullable(),
    }),
  ),
});
export type Occurrence = z.infer<typeof Occurrence>;

export const Finding = z.object({
  /** Stable across reruns on the same captures: derived from the occurrences' exchanges, paths and spans. */
  id: z.string(),
  class: FindingClass,
  /** The class the bytes alone would get, when `class` is echo or expected. */
  changeClass: FindingClass.optional(),
  /** The first occurrence (same as `locations[0]` without its span and groups), for tools that read one place. */
  location: Location,
  /**
   * Every aligned request that carries this same change (same class, same field, same attribution
   * groups, same code-point edits), in exchange order; at least one.
   */
  locations: z.array(Occurrence).min(1),
  /** For a presence finding that stands for several fields under one container: those fields. */
  fields: z.array(z.string()).optional(),
  /** Span in the first occurrence's baseline representative string (UTF-16 offsets); null for presence findings. */
  span: Span.nullable(),
  attribution: Attribution,
  /** The axis value echoed, for class echo. */
  echo: z.object({ axis: z.string(), value: z.string() }).optional(),
  /** The scenario rule that allowed this variation, for class expected. */
  expected: z.object({ path: z.string(), axis: z.string() }).optional(),
  /** One sentence for humans. */
  summary: z.string(),
});
export type Finding = z.infer<typeof Finding>;

export const RunFailure = z.object({
  id: z.string(),
  cell: z.string(),
  /** The run's status, or why its capture could not be compared: capture-missing, -empty, -short, -long, -mismatch. */
  status: z.string(),
  message: z.string().optional(),
});
export type RunFailure = z.infer<typeof RunFailure>;

export const Summary = z.object({
  counts: z.object({
    /** Findings (each may occur in several requests); equals `findings.length`. */
    total: z.number().int(),
    /** Findings per class; sums to `total`. */
    byClass: z.record(z.string(), z.number().int()),
    /** Occurrences over all findings: the sum of `locations.length`. */
    occurrences: z.number().int(),
  }),
  axes: z.record(z.string(), z.array(z.string())),
  cells: z.array(z.object({ id: z.string(), values: z.record(z.string(), z.string()) })),
  runs: z.object({ total: z.number().int(), compared: z.number().int() }),
  /** Successful runs per cell, min and max over cells. */
  repetitions: z.object({ min: z.number().int(), max: z.number().int() }),
  exchanges: z.number().int(),
  alignedRequests: z.number().int(),
  fieldsCompared: z.number().int(),
  noise: z.object({
    /** Spans that varied between runs of one cell and were masked. */
    maskedSpans: z.number().int(),
    /** Fields whose presence varied within a cell, and requests likewise. */
    maskedPresence: z.number().int(),
    notes: z.array(z.string()),
  }),
  runsFailed: z.array(RunFailure),
  /**
   * Why the comparison is empty or partial beyond failed runs (optional: added after v1 shipped):
   * a manifest without runs, cells without any run. Non-empty means exit 3, never "no findings".
   */
  notCompared: z.array(z.string()).optional(),
  /**
   * Machine factors of the design that could not be applied on the machine that ran it (optional:
   * added after v1 shipped). Their values were never compared, so no finding about them means nothing.
   */
  factorsSkipped: z.array(z.object({ factor: z.string(), reason: z.string() })).optional(),
  /** Capture lines skipped (e.g. a torn last line). */
  warnings: z.array(z.string()),
  unicode: z.object({
    properties: z.string(),
    names: z.string(),
    confusables: z.string(),
  }),
});
export type Summary = z.infer<typeof Summary>;

export const FindingsSchema = z.object({
  v: z.literal(FINDINGS_VERSION),
  tool: z.object({ name: z.literal('promptdiff'), version: z.string() }),
  generatedAt: z.string(),
  runDir: z.string(),
  summary: Summary,
  /** Most suspicious first (class order, then location). */
  findings: z.array(Finding),
  /** Full field values referenced by groups' textRef, stored once each. */
  texts: z.record(z.string(), z.string()),
});
export type Findings = z.infer<typeof FindingsSchema>;

/** RUN_DIR/findings.json. */
export const FINDINGS_FORMAT = defineFormat({
  file: 'findings.json',
  limit: 'findings',
  version: FINDINGS_VERSION,
  schema: FindingsSchema,
  what: 'a findings file of this version',
  hint: 'rerun `promptdiff diff`',
});
