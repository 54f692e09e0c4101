import { createHash } from 'node:crypto';
import { pathShape } from './element-path.js';
import { CODE_POINT_CLASSES, type Finding, type Group, type Occurrence } from './findings-schema.js';
import { compareExchange, describeWhere } from './where.js';

/**
 * What makes two per-request findings "the same change": class (and underlying class), the field
 * (path with array indices blurred), the attribution (axes and which cells fall in which group),
 * and the edits. For code-point classes the edits are the identity (before → after of each minimal
 * change); for value, echo and expected findings the changed word itself must match too
 * ("1.0" → "1.0-r" and "2.0" → "2.0-r" are two findings); presence
 * findings match on the request (method and path) or the fields they stand for.
 */
export function sameChangeKey(f: Finding): string {
  const bytesClass = f.changeClass ?? f.class;
  const byValue = !CODE_POINT_CLASSES.has(bytesClass) && f.span !== null;
  const a = f.attribution;
  return JSON.stringify([
    f.class,
    f.changeClass ?? null,
    pathShape(f.location.path),
    f.span === null ? null : 'span',
    f.span === null && f.location.path === 'request' ? `${f.location.method} ${f.location.urlPath}` : null,
    (f.fields ?? []).map(pathShape),
    f.echo ?? null,
    f.expected ?? null,
    a.axes,
    a.determined,
    a.interaction,
    a.groups.map((g) => [
      g.baseline,
      [...g.cells].sort(),
      g.present ?? null,
      byValue ? word(g) : null,
      g.changes.map((c) => [c.before, c.after]),
    ]),
  ]);
}

/** The whitespace-delimited word holding a group's span (as far as the stored context reaches). */
function word(g: Group): string {
  const before = /\S*$/u.exec(g.context.before)![0];
  const after = /^\S*/u.exec(g.context.after)![0];
  return `${before}${g.text}${after}`;
}

function mergedId(occurrences: Occurrence[]): string {
  if (occurrences.length === 1) return occurrences[0]!.id;
  const h = createHash('sha256').update(occurrences.map((o) => o.id).join('\n')).digest('hex');
  return `f-${h.slice(0, 10)}`;
}

/**
 * Folds per-request findings of the same change into one finding listing every request it occurs
 * in. The first occurrence (in exchange order) supplies `location`, `span` and the groups' offsets
 * and texts. `what` is the finding's description without its place; the summary gets the place
 * ("body.system in 2 requests (…)") prepended here.
 */
export function mergeSameChanges(drafts: Array<{ finding: Finding; what: string }>): Finding[] {
  const byKey = new Map<string, Array<{ finding: Finding; what: string }>>();
  for (const d of drafts) {
    const key = sameChangeKey(d.finding);
    const list = byKey.get(key);
    if (list) list.push(d);
    else byKey.set(key, [d]);
  }
  const out: Finding[] = [];
  for (const members of byKey.values()) {
    members.sort(
      (x, y) =>
        compareExchange(x.finding.location.exchange, y.finding.location.exchange) ||
        x.finding.location.path.localeCompare(y.finding.location.path),
    );
    const first = members[0]!;
    const locations = members.flatMap((m) => m.finding.locations);
    out.push({
      ...first.finding,
      id: mergedId(locations),
      locations,
      summary: `${describeWhere(locations)}: ${first.what}`,
    });
  }
  return out;
}
