import type { Findings } from '../diff/findings-schema.js';
import type { VerdictRow } from './schema.js';

/**
 * One row per finding that is not expected variation: which machine properties change which bytes,
 * most suspicious first (the findings' own order).
 */
export function verdictOf(findings: Findings): VerdictRow[] {
  return findings.findings
    .filter((f) => f.class !== 'expected')
    .map((f) => ({
      factors: f.attribution.axes.length ? f.attribution.axes : ['(undetermined)'],
      interaction: f.attribution.interaction,
      class: f.class,
      path: f.location.path,
      requests: f.locations.length,
      summary: f.summary,
      finding: f.id,
    }));
}
