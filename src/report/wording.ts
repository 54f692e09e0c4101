import type { Group } from '../diff/findings-schema.js';

/**
 * How a variant's conditions are written, in the findings' summaries (the differ) and in every report.
 * Type imports only: the differ uses this module without depending on the reports.
 */

/** "TZ ∈ {UTC, Asia/Tokyo} ∧ LANG ∈ {C}": the values of the axes a variant was seen under. */
export function axisCondition(values: Group['values'], axes: readonly string[]): string {
  return axes.map((a) => `${a} ∈ {${(values[a] ?? []).join(', ')}}`).join(' ∧ ');
}

/** A variant's condition; a change no axis determines is told by its cells. */
export function groupCondition(g: Pick<Group, 'values' | 'cells'>, axes: readonly string[]): string {
  return axes.length === 0 ? `cells {${g.cells.join(', ')}}` : axisCondition(g.values, axes);
}

/** The conditions of a finding's variants (every group but the baseline), as alternatives. */
export function variantConditions(groups: readonly Group[], axes: readonly string[]): string {
  return groups
    .filter((g) => !g.baseline)
    .map((g) => groupCondition(g, axes))
    .join(' or ');
}
