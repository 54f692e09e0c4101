import type { Condition, Relation } from './schema.js';
import type { Part } from './shapes.js';

/**
 * From a minimal trigger to a rule: each part of the minimal value is put into fresh contexts
 * (replaced by filler, inside a longer word, with something before or after it, behind or in
 * front of another label, in another case) with the rest of the value kept, and which contexts
 * still produce the variant tells a substring rule from a suffix, a prefix, a domain or an
 * exact match. Pure functions; the probes themselves are run by the caller.
 */

export const CONTEXTS = ['replaced', 'inside', 'before', 'after', 'label-before', 'label-after', 'upper'] as const;
export type ContextName = (typeof CONTEXTS)[number];

/** Filler that no rule we know reacts to: plain letters absent from common keywords. */
const FILL_BEFORE = 'q';
const FILL_AFTER = 'k';
const OTHER_LABEL = 'q';
const OTHER_TLD = 'org';

export interface ContextProbe {
  part: number;
  context: ContextName;
  value: string;
}

/** The values that test part `i` of `minimal` in each context (those the caller can run). */
export function contextProbes(minimal: string, parts: Part[], valid: (v: string) => boolean): ContextProbe[] {
  const out: ContextProbe[] = [];
  parts.forEach((p, i) => {
    const put = (text: string) => minimal.slice(0, p.start) + text + minimal.slice(p.end);
    const filler = Array.from(p.text, (ch) => (/\p{L}/u.test(ch) ? FILL_BEFORE : /\d/.test(ch) ? '7' : ch)).join('');
    const texts: Array<[ContextName, string]> = [
      ['replaced', filler === p.text ? FILL_AFTER.repeat(Array.from(p.text).length) : filler],
      ['inside', `${FILL_BEFORE}${p.text}${FILL_AFTER}`],
      ['before', `${FILL_BEFORE}${p.text}`],
      ['after', `${p.text}${FILL_AFTER}`],
    ];
    if (p.labelled) texts.push(['label-before', `${OTHER_LABEL}.${p.text}`], ['label-after', `${p.text}.${OTHER_TLD}`]);
    const upper = p.text.toUpperCase() === p.text ? p.text.toLowerCase() : p.text.toUpperCase();
    if (upper !== p.text) texts.push(['upper', upper]);
    for (const [context, text] of texts) {
      const value = put(text);
      if (value !== minimal && valid(value)) out.push({ part: i, context, value });
    }
  });
  return out;
}

/** What the contexts said about one part: undefined where the context could not be run. */
export type ContextResults = Partial<Record<ContextName, boolean>>;

export interface PartVerdict {
  part: Part;
  /** false: the part can be anything (filler kept the variant); it is there only to make a valid value. */
  relevant: boolean;
  relation: Relation;
  caseInsensitive?: boolean;
}

/** The relation a part's contexts point to (see the module comment); equals when none held. */
export function verdictOf(part: Part, r: ContextResults): PartVerdict {
  const ci = r.upper === undefined ? {} : { caseInsensitive: r.upper };
  if (r.replaced === true) return { part, relevant: false, relation: 'contains', ...ci };
  const relation = ((): Relation => {
    if (r.inside === true || (r.before === true && r.after === true)) return 'contains';
    if (r.before === true && part.atEnd) return 'ends-with';
    if (r.after === true && part.atStart) return 'starts-with';
    if (part.labelled) {
      const lb = r['label-before'] === true;
      const la = r['label-after'] === true;
      // Other labels may come before (or after) it, but nothing may touch it: a domain's edge.
      if (lb && la) return 'label';
      if (lb) return 'domain-suffix';
      if (la) return 'domain-prefix';
    }
    return 'equals';
  })();
  return { part, relevant: true, relation, ...ci };
}

/**
 * The conditions of a conjunction: one per relevant part, except that neighbouring labels of one
 * field that only work together (deepseek + com in "ends with .deepseek.com") become one
 * condition on the labels joined; a part that must stay exactly where it is, beside other parts,
 * makes the whole field an exact value.
 */
export function conditionsOf(verdicts: PartVerdict[], minimal: string, fieldText: (field: string) => string | null): Condition[] {
  const out: Condition[] = [];
  const relevant = verdicts.filter((v) => v.relevant);
  const byField = new Map<string, PartVerdict[]>();
  for (const v of relevant) byField.set(v.part.field, [...(byField.get(v.part.field) ?? []), v]);
  for (const [field, vs] of byField) {
    const whole = fieldText(field) ?? minimal;
    const ci = vs.every((v) => v.caseInsensitive === true) ? true : vs.some((v) => v.caseInsensitive === false) ? false : undefined;
    const cond = (relation: Relation, value: string, extra: Partial<Condition> = {}): Condition => ({
      field,
      relation,
      value,
      ...(ci === undefined ? {} : { caseInsensitive: ci }),
      ...extra,
    });
    // Runs of adjacent labels that are exact pieces of a longer domain.
    const labelled = vs.every((v) => v.part.labelled);
    const exactish = (v: PartVerdict) => v.relation === 'equals' || v.relation === 'domain-suffix' || v.relation === 'domain-prefix';
    if (labelled && vs.length > 1 && vs.every(exactish)) {
      const sorted = [...vs].sort((a, b) => a.part.start - b.part.start);
      const adjacent = sorted.every((v, i) => i === 0 || minimal.slice(sorted[i - 1]!.part.end, v.part.start) === '.');
      const first = sorted[0]!;
      const last = sorted[sorted.length - 1]!;
      const joined = minimal.slice(first.part.start, last.part.end);
      if (adjacent && last.part.atEnd && first.relation === 'domain-suffix') {
        out.push(cond('domain-suffix', joined, first.part.atStart ? { orEqual: true } : {}));
        continue;
      }
      if (adjacent && first.part.atStart && last.relation === 'domain-prefix') {
        out.push(cond('domain-prefix', joined));
        continue;
      }
      out.push(cond('equals', whole));
      continue;
    }
    // A piece that must be exactly as it is beside others: the field's value itself is the rule.
    if (vs.length > 1 && vs.some((v) => v.relation === 'equals')) {
      out.push(cond('equals', whole));
      continue;
    }
    for (const v of vs) {
      out.push({
        field,
        relation: v.relation,
        value: v.relation === 'equals' ? whole : v.part.text,
        ...(v.caseInsensitive === undefined ? {} : { caseInsensitive: v.caseInsensitive }),
        ...(v.relation === 'domain-suffix' && v.part.whole ? { orEqual: true } : {}),
      });
    }
  }
  return out;
}

/** Whether a field's text satisfies a condition (to check a rule against values it was not built from). */
export function satisfies(c: Condition, text: string): boolean {
  const fold = c.caseInsensitive !== false;
  const t = fold ? text.toLowerCase() : text;
  const v = fold ? c.value.toLowerCase() : c.value;
  switch (c.relation) {
    case 'contains':
      return t.includes(v);
    case 'starts-with':
      return t.startsWith(v);
    case 'ends-with':
      return t.endsWith(v);
    case 'domain-suffix':
      return t === v || t.endsWith(`.${v}`);
    case 'domain-prefix':
      return t === v || t.startsWith(`${v}.`);
    case 'label':
      return t.split('.').includes(v);
    case 'equals':
      return t === v;
    case 'one-of':
      return (c.values ?? []).some((x) => (fold ? x.toLowerCase() : x) === t);
    case 'at-least':
      return Number(text) >= Number(c.value);
    case 'above':
      return Number(text) > Number(c.value);
    case 'at-most':
      return Number(text) <= Number(c.value);
    case 'below':
      return Number(text) < Number(c.value);
  }
}

const q = (s: string) => `\`${s}\``;

function phrase(c: Condition, tried?: number): string {
  const cs = c.caseInsensitive === undefined ? '' : c.caseInsensitive ? 'case-insensitive' : 'case-sensitive';
  const paren = (...xs: string[]) => {
    const items = xs.filter(Boolean);
    return items.length ? ` (${items.join(', ')})` : '';
  };
  switch (c.relation) {
    case 'contains':
      return `contains ${q(c.value)}${paren('any position', cs)}`;
    case 'starts-with':
      return `starts with ${q(c.value)}${paren(cs)}`;
    case 'ends-with':
      return `ends with ${q(c.value)}${paren(cs)}`;
    case 'domain-suffix':
      return `${c.orEqual ? `is ${q(c.value)} or ` : ''}ends with ${q(`.${c.value}`)}${paren(cs)}`;
    case 'domain-prefix':
      return `starts with ${q(`${c.value}.`)}${paren(cs)}`;
    case 'label':
      return `has a label ${q(c.value)}${paren(cs)}`;
    case 'equals':
      return `is exactly ${q(c.value)}${paren(cs)}`;
    case 'one-of': {
      const members = c.values ?? [];
      return `∈ {${members.join(', ')}}${tried !== undefined ? ` (${members.length} of ${tried} tried)` : ''}`;
    }
    case 'at-least':
      return `≥ ${c.value}`;
    case 'above':
      return `> ${c.value}`;
    case 'at-most':
      return `≤ ${c.value}`;
    case 'below':
      return `< ${c.value}`;
  }
}

/** One sentence: conditions on the same field share their subject ("host contains … and ends with …"). */
export function ruleText(conditions: Condition[], subject: (field: string) => string, tried?: number): string {
  const groups: Array<{ field: string; phrases: string[] }> = [];
  for (const c of conditions) {
    const last = groups[groups.length - 1];
    const p = phrase(c, tried);
    if (last && last.field === c.field) last.phrases.push(p);
    else groups.push({ field: c.field, phrases: [p] });
  }
  return groups.map((g) => `${subject(g.field)} ${g.phrases.join(' and ')}`).join('; and ');
}
