import type { Findings } from '../diff/findings-schema.js';
import { EXIT, UserError } from '../errors.js';

export { EXIT };

/**
 * Failed runs win over findings: with runs missing, the comparison is incomplete and "no
 * findings" would be a false all-clear. A factor the machine could not apply is the same: its
 * values were never compared. So is a capture that does not hold what the runner counted, and a
 * run directory with nothing to compare. Expected variation is not a finding.
 */
export function exitCodeFor(findings: Findings): number {
  const s = findings.summary;
  if (s.runsFailed.length > 0 || (s.factorsSkipped?.length ?? 0) > 0 || (s.notCompared?.length ?? 0) > 0) return EXIT.runsFailed;
  // Nothing compared is never a clean result, whatever an older findings file says.
  if (s.runs.compared === 0) return EXIT.runsFailed;
  return findings.findings.some((f) => f.class !== 'expected') ? EXIT.findings : EXIT.noFindings;
}

/** For an error thrown while diffing or reporting: the user's mistakes are 2, anything else is a bug. */
export function exitCodeForError(err: unknown): number {
  return err instanceof UserError ? EXIT.inputError : EXIT.internal;
}
