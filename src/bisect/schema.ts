import { z } from 'zod';
import { defineFormat } from '../artifact.js';
import { CodePointInfo, FindingClass } from '../diff/findings-schema.js';

/** OUT/bisect.json: what `promptdiff bisect` found, and every probe it ran to find it. */
export const BISECT_VERSION = 1;
export const BISECT_FILE = 'bisect.json';

export const ProbeRecord = z.object({
  version: z.string(),
  /** Position in `versions`. */
  index: z.number().int().nonnegative(),
  /** The probe's run directory, relative to the bisect directory (`<version>`). */
  runDir: z.string(),
  status: z.enum(['ok', 'failed']),
  /** Runs this invocation did (0 when a completed probe directory was reused). */
  ran: z.number().int().nonnegative(),
  reused: z.boolean(),
  findings: z.number().int().nonnegative(),
  /** Short hash of the version's finding signatures (src/bisect/fingerprint.ts). */
  fingerprint: z.string().nullable(),
  signatures: z.array(z.string()),
  durationMs: z.number().int().nonnegative(),
  message: z.string().optional(),
});
export type ProbeRecord = z.infer<typeof ProbeRecord>;

/** One fingerprint atom that appeared or disappeared (src/bisect/fingerprint.ts), and the finding that carries it. */
export const ChangedFinding = z.object({
  signature: z.string(),
  /** The class of this change judged alone (a merged span's finding may have a more suspicious one). */
  class: FindingClass,
  path: z.string(),
  axes: z.array(z.string()),
  /** The values of the group that carries the change. */
  values: z.record(z.string(), z.array(z.string())),
  removed: z.array(CodePointInfo),
  added: z.array(CodePointInfo),
  /** The carrying finding in that version's `<runDir>/findings.json`. */
  findingId: z.string(),
  findingClass: FindingClass,
  summary: z.string(),
});
export type ChangedFinding = z.infer<typeof ChangedFinding>;

export const Transition = z.object({
  /** The first version whose findings differ from its predecessor's. */
  version: z.string(),
  predecessor: z.string(),
  appeared: z.array(ChangedFinding),
  disappeared: z.array(ChangedFinding),
});
export type Transition = z.infer<typeof Transition>;

export const BisectReportSchema = z.object({
  v: z.literal(BISECT_VERSION),
  tool: z.object({ name: z.literal('promptdiff'), version: z.string() }),
  createdAt: z.string(),
  scenario: z.string(),
  preset: z.string(),
  npmPackage: z.string(),
  from: z.string(),
  to: z.string(),
  includePrereleases: z.boolean(),
  mode: z.enum(['binary', 'linear']),
  /** Every version between from and to (inclusive) that was considered, oldest first. */
  versions: z.array(z.string()),
  /** The most probes the mode can need. */
  maxProbes: z.number().int(),
  /** In the order they were run (or reused). */
  probes: z.array(ProbeRecord),
  /** `running` while probes are under way (the file is rewritten after every probe). */
  outcome: z.enum(['running', 'found', 'no-difference', 'probe-failed', 'interrupted']),
  first: Transition.nullable(),
  /** Linear mode: every version whose findings differ from its predecessor's. */
  transitions: z.array(Transition).optional(),
  notes: z.array(z.string()),
});
export type BisectReport = z.infer<typeof BisectReportSchema>;

/** OUT/bisect.json: what a bisect found, rewritten after every probe. */
export const BISECT_FORMAT = defineFormat({
  file: BISECT_FILE,
  limit: 'bisect',
  version: BISECT_VERSION,
  schema: BisectReportSchema,
  what: 'a promptdiff bisect report',
});
