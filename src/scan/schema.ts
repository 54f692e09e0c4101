import { z } from 'zod';
import { SCAN_KINDS } from './judge.js';

/** `promptdiff scan --json`: bump when a field changes meaning; new optional fields do not. */
export const SCAN_VERSION = 1;

const CodePoint = z.object({ cp: z.string(), char: z.string(), name: z.string() });

export const ScanLocation = z.object({
  /** The scenario run the exchange belongs to (null for a bare proxy capture). */
  run: z.string().nullable(),
  /** The capture record's id and sequence number. */
  exchange: z.string(),
  seq: z.number().int(),
  /** The field as the differ names it: headers.user-agent, body.system[0].text, body.messages[2].content, … */
  field: z.string(),
  /** Start of the suspicious code points in the field, in UTF-16 units and in code points. */
  offset: z.number().int().nonnegative(),
  cpOffset: z.number().int().nonnegative(),
  context: z.object({ before: z.string(), text: z.string(), after: z.string() }),
});
export type ScanLocation = z.infer<typeof ScanLocation>;

export const ScanGroup = z.object({
  /** Stable for the same kind, code points and field: "s-" + 10 hex. */
  id: z.string(),
  kind: z.enum(SCAN_KINDS),
  meaning: z.string(),
  codePoints: z.array(CodePoint),
  /** Confusables: the ASCII the code points pass for. */
  looksLike: z.string().optional(),
  /** Tag characters: the ASCII text they spell. */
  decoded: z.string().optional(),
  /** The field with array indices written [] (the same prompt block in every request). */
  field: z.string(),
  requests: z.number().int().positive(),
  occurrences: z.number().int().positive(),
  /** The distinct words holding it (up to 10), as sent. */
  words: z.array(z.string()),
  locations: z.array(ScanLocation),
  /** Occurrences beyond the first 1000, counted but not listed. */
  locationsOmitted: z.number().int().nonnegative(),
});
export type ScanGroup = z.infer<typeof ScanGroup>;

export const ScanReportSchema = z.object({
  v: z.literal(SCAN_VERSION),
  tool: z.object({ name: z.literal('promptdiff'), version: z.string() }),
  generatedAt: z.string(),
  source: z.string(),
  shape: z.enum(['capture', 'run-dir']),
  /** Always true: characters that rarely belong in a prompt, not proof that the machine put them there. */
  screening: z.literal(true),
  scanned: z.object({
    files: z.number().int(),
    exchanges: z.number().int(),
    runs: z.number().int(),
    fields: z.number().int(),
    /** Non-ASCII code points looked at (ASCII needs no judging). */
    nonAscii: z.number().int(),
  }),
  counts: z.object({
    total: z.number().int(),
    byKind: z.record(z.string(), z.number().int()),
    occurrences: z.number().int(),
  }),
  groups: z.array(ScanGroup),
  /** Seen and judged ordinary, so nothing is silently ignored. */
  ordinary: z.object({
    /** Non-ASCII letters in words of one script (or a CJK mix), by script. */
    letters: z.record(z.string(), z.number().int()),
    /** Typographic punctuation used without the ASCII mark it stands for in the same field, by code point. */
    typographic: z.record(z.string(), z.number().int()),
  }),
  allow: z.object({ entries: z.array(z.string()), suppressed: z.number().int() }),
  warnings: z.array(z.string()),
  notes: z.array(z.string()),
});
export type ScanReport = z.infer<typeof ScanReportSchema>;
