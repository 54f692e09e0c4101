import { ddmin } from './ddmin.js';
import { conditionsOf, contextProbes, ruleText, satisfies, verdictOf, type ContextName, type ContextResults } from './generalise.js';
import type { Condition, Probe, ProbeStage } from './schema.js';
import { isNumber, type Shape, type Trace } from './shapes.js';

/**
 * Which probes explain one variant, decided step by step from the outcomes so far: reproduce the
 * witness value, minimise it level by level (ddmin), put each part of the minimal value into
 * fresh contexts (generalise), and try the axis's corpus; for numbers, a binary search for the
 * threshold instead. Nothing here runs an agent: probes go to an oracle (src/explain/probes.ts
 * runs them; the unit tests answer them from a known rule).
 */

export type Outcome =
  | { status: 'ok'; variant: string }
  | { status: 'absent' }
  | { status: 'failed'; message: string }
  | { status: 'skipped'; message: string };

export interface ProbeRequest {
  value: string;
  stage: ProbeStage;
  purpose?: string;
}

export type Oracle = (requests: ProbeRequest[]) => Promise<Outcome[]>;

export interface Corpus {
  /** Shown in rules and probe purposes: "tzdata 2025c", "API hosts", "catalogue". */
  name: string;
  values: string[];
}

export interface VariantPlan {
  /** The variant's text at the finding's place. */
  target: string;
  /** The witness value of the axis, as the agent saw it. */
  from: string;
  /** The baseline anchor's value of the axis (the other side of a threshold). */
  baselineValue: string | null;
  shape: Shape;
  /** A value the axis accepts (the shape's structure and the factor kind's own checks). */
  accepts: (value: string) => boolean;
  corpora: Corpus[];
  /** Rule words for a field: "base URL host", "time zone". */
  subject: (field: string) => string;
  /** Candidates asked at once: the runs that can go in parallel. */
  batch: number;
  exhausted: () => boolean;
}

export interface VariantResult {
  minimal: string[];
  rule: string;
  conditions: Condition[];
  probes: Probe[];
  runs: number;
  notes: string[];
}

/** Records every probe once (the first time a value is asked) and counts those that ran. */
class Recorder {
  readonly probes: Probe[] = [];
  private readonly seen = new Map<string, Outcome>();
  constructor(private readonly oracle: Oracle) {}

  async ask(requests: ProbeRequest[]): Promise<Outcome[]> {
    const fresh = requests.filter((r, i) => !this.seen.has(r.value) && requests.findIndex((x) => x.value === r.value) === i);
    const outcomes = fresh.length ? await this.oracle(fresh) : [];
    fresh.forEach((r, i) => {
      const o = outcomes[i]!;
      this.seen.set(r.value, o);
      this.probes.push({
        value: r.value,
        variant: o.status === 'ok' ? o.variant : null,
        status: o.status,
        stage: r.stage,
        ...(r.purpose ? { purpose: r.purpose } : {}),
        ...('message' in o ? { message: o.message } : {}),
      });
    });
    return requests.map((r) => this.seen.get(r.value)!);
  }

  get runs(): number {
    return this.probes.filter((p) => p.status !== 'skipped').length;
  }
}

/** Units up to which a level starts with single-unit removals. */
const FINE_START = 12;

export async function explainVariant(plan: VariantPlan, oracle: Oracle): Promise<VariantResult> {
  const rec = new Recorder(oracle);
  const notes: string[] = [];
  const holds = (o: Outcome) => o.status === 'ok' && o.variant === plan.target;
  const told = (o: Outcome) => o.status === 'ok' || o.status === 'absent';
  const done = (r: Omit<VariantResult, 'probes' | 'runs' | 'notes'>): VariantResult => {
    const failed = rec.probes.filter((p) => p.status === 'failed').length;
    if (failed) notes.push(`${failed} probe run${failed === 1 ? '' : 's'} failed: reported, not counted as the variant's absence`);
    if (plan.exhausted()) notes.push('the run budget ran out: the search stopped where it was');
    return { ...r, probes: rec.probes, runs: rec.runs, notes };
  };

  if (plan.shape.levels.length === 0 && plan.shape.name !== 'number') return done(await corpusOnly(plan, rec, holds, told));

  const [first] = await rec.ask([{ value: plan.from, stage: 'reproduce', purpose: 'the witness value' }]);
  if (!holds(first!)) {
    notes.push(`the witness value ${JSON.stringify(plan.from)} did not give the variant again (${describe(first!)})`);
    return done({ minimal: [], rule: 'not reproduced: no rule', conditions: [] });
  }

  if (plan.shape.name === 'number' && plan.baselineValue !== null && isNumber(plan.baselineValue) && isNumber(plan.from) && Number(plan.baselineValue) !== Number(plan.from)) {
    return done(await threshold(plan, rec, holds, told, notes));
  }

  // Minimise, coarse levels first, each from what the last one left.
  let value = plan.from;
  const trace: Trace = [];
  for (const build of plan.shape.levels) {
    const level = build(value);
    if (!level || level.units.length === 0) continue;
    const candidate = (keep: boolean[]) => level.rebuild(keep);
    const keep = await ddmin(
      level.units.length,
      async (keeps) => (await rec.ask(keeps.map((k) => ({ value: candidate(k)!, stage: 'minimise', purpose: level.name })))).map(holds),
      {
        batch: plan.batch,
        valid: (k) => {
          const v = candidate(k);
          return v !== null && plan.accepts(v);
        },
        exhausted: plan.exhausted,
        // A short remainder is likely all needed: single characters straight away.
        ...(level.units.length <= FINE_START ? { start: level.units.length } : {}),
      },
    );
    trace.push({ level, keep });
    value = candidate(keep) ?? value;
  }

  // Generalise: each part of the minimal value in fresh contexts.
  const parts = plan.shape.parts(value, trace);
  const probes = contextProbes(value, parts, plan.accepts);
  const outcomes = await rec.ask(probes.map((p) => ({ value: p.value, stage: 'generalise', purpose: `${p.context} ${JSON.stringify(parts[p.part]!.text)}` })));
  const results: ContextResults[] = parts.map(() => ({}));
  probes.forEach((p, i) => {
    const o = outcomes[i]!;
    if (told(o)) results[p.part]![p.context as ContextName] = holds(o);
  });
  const verdicts = parts.map((p, i) => verdictOf(p, results[i]!));
  let conditions = conditionsOf(verdicts, value, (f) => plan.shape.field(value, f));
  if (conditions.length === 0) {
    notes.push('no part of the minimal value mattered in the contexts tried: the value is needed only as a whole');
    conditions = [{ field: parts[0]?.field ?? 'value', relation: 'equals', value }];
  }

  // The corpus: an exact value becomes a list of exact values; any rule is checked against it.
  const tried = await runCorpora(plan, rec);
  const exact = conditions.length === 1 && conditions[0]!.relation === 'equals';
  if (exact && tried.length > 0) {
    const members = [...new Set([value, ...tried.filter(({ outcome }) => holds(outcome)).map(({ value: v }) => v)])].sort();
    const field = conditions[0]!.field;
    conditions = [{ field, relation: 'one-of', value: members.join(', '), values: members }];
    const ruleWhole = ruleText(conditions, plan.subject, new Set([value, ...tried.filter((t) => told(t.outcome)).map((t) => t.value)]).size);
    return done({ minimal: members, rule: ruleWhole, conditions });
  }
  let rule = ruleText(conditions, plan.subject);
  rule += exceptions(plan, conditions, tried, holds, told);
  return done({ minimal: [value], rule, conditions });
}

function describe(o: Outcome): string {
  switch (o.status) {
    case 'ok':
      return `got ${JSON.stringify(o.variant)}`;
    case 'absent':
      return 'the field was not sent';
    default:
      return `${o.status}: ${o.message}`;
  }
}

async function runCorpora(plan: VariantPlan, rec: Recorder): Promise<Array<{ value: string; outcome: Outcome; corpus: string }>> {
  const out: Array<{ value: string; outcome: Outcome; corpus: string }> = [];
  for (const corpus of plan.corpora) {
    const values = [...new Set(corpus.values)].filter(plan.accepts);
    if (values.length === 0 || plan.exhausted()) continue;
    const outcomes = await rec.ask(values.map((v) => ({ value: v, stage: 'corpus', purpose: corpus.name })));
    values.forEach((v, i) => out.push({ value: v, outcome: outcomes[i]!, corpus: corpus.name }));
  }
  return out;
}

/** What the corpus shows beyond the conditions: values that trigger without matching them, and the reverse. */
function exceptions(
  plan: VariantPlan,
  conditions: Condition[],
  tried: Array<{ value: string; outcome: Outcome; corpus: string }>,
  holds: (o: Outcome) => boolean,
  told: (o: Outcome) => boolean,
): string {
  const judged = tried.filter((t) => told(t.outcome));
  if (judged.length === 0) return '';
  const predicted = (v: string) => conditions.every((c) => {
    const text = plan.shape.field(v, c.field);
    return text !== null && satisfies(c, text);
  });
  const also = judged.filter((t) => holds(t.outcome) && !predicted(t.value)).map((t) => t.value);
  const not = judged.filter((t) => !holds(t.outcome) && predicted(t.value)).map((t) => `${t.value} (${t.outcome.status === 'ok' ? JSON.stringify(t.outcome.variant) : 'field absent'})`);
  const names = [...new Set(judged.map((t) => t.corpus))].join(', ');
  const parts: string[] = [];
  if (also.length) parts.push(`also: ${also.join(', ')}`);
  if (not.length) parts.push(`not: ${not.join(', ')}`);
  return parts.length ? `; of ${judged.length} values tried (${names}), ${parts.join('; ')}` : `; the ${judged.length} values tried (${names}) agree`;
}

/** Zones, locales and catalogue ids: no inner structure to reduce, so the corpus is the search. */
async function corpusOnly(plan: VariantPlan, rec: Recorder, holds: (o: Outcome) => boolean, told: (o: Outcome) => boolean): Promise<Omit<VariantResult, 'probes' | 'runs' | 'notes'>> {
  const [first] = await rec.ask([{ value: plan.from, stage: 'reproduce', purpose: 'the witness value' }]);
  const tried = [{ value: plan.from, outcome: first! }, ...(await runCorpora(plan, rec))];
  const judged = tried.filter((t) => told(t.outcome));
  const members = [...new Set(judged.filter((t) => holds(t.outcome)).map((t) => t.value))].sort();
  const field = plan.shape.name === 'zone' ? 'time zone' : 'value';
  const conditions: Condition[] = [{ field, relation: 'one-of', value: members.join(', '), values: members }];
  const count = new Set(judged.map((t) => t.value)).size;
  return { minimal: members, rule: ruleText(conditions, plan.subject, count), conditions };
}

/** Integers (or decimals scaled to integers) between the baseline's value and the witness's. */
async function threshold(
  plan: VariantPlan,
  rec: Recorder,
  holds: (o: Outcome) => boolean,
  told: (o: Outcome) => boolean,
  notes: string[],
): Promise<Omit<VariantResult, 'probes' | 'runs' | 'notes'>> {
  const decimals = Math.max(...[plan.from, plan.baselineValue!].map((v) => v.split('.')[1]?.length ?? 0));
  const scale = 10 ** decimals;
  const toInt = (v: string) => Math.round(Number(v) * scale);
  const fmt = (n: number) => (decimals ? (n / scale).toFixed(decimals) : String(n));
  let lo = toInt(plan.baselineValue!);
  let hi = toInt(plan.from);
  const up = hi > lo;
  // A k-ary search, k the runs that go in parallel: fewer rounds than halving, for a few more runs.
  while (Math.abs(hi - lo) > 1 && !plan.exhausted()) {
    const k = Math.min(plan.batch, Math.abs(hi - lo) - 1);
    const points = Array.from({ length: k }, (_, i) => lo + Math.trunc(((hi - lo) * (i + 1)) / (k + 1)));
    const outcomes = await rec.ask(points.map((p) => ({ value: fmt(p), stage: 'threshold', purpose: `between ${fmt(lo)} and ${fmt(hi)}` })));
    const first = outcomes.findIndex(holds);
    const nextHi = first === -1 ? hi : points[first]!;
    let nextLo = lo;
    points.forEach((p, i) => {
      if ((first === -1 || i < first) && told(outcomes[i]!) && !holds(outcomes[i]!)) nextLo = p;
    });
    if (nextLo === lo && nextHi === hi) {
      notes.push(`probes between ${fmt(lo)} and ${fmt(hi)} failed: the threshold lies in that interval`);
      break;
    }
    lo = nextLo;
    hi = nextHi;
  }
  const span = Math.abs(toInt(plan.from) - toInt(plan.baselineValue!));
  const far = up ? toInt(plan.from) + span : toInt(plan.from) - span;
  const base = toInt(plan.baselineValue!);
  const near = up ? (base > 0 ? Math.floor(base / 2) : base - span) : base + span;
  const [farO, nearO] = await rec.ask([
    { value: fmt(far), stage: 'threshold', purpose: 'beyond the witness value' },
    { value: fmt(near), stage: 'threshold', purpose: 'beyond the baseline value' },
  ]);
  const exact = Math.abs(hi - lo) <= 1;
  const relation = up ? 'at-least' : 'at-most';
  const conditions: Condition[] = [{ field: 'value', relation, value: fmt(hi) }];
  if (told(farO!) && !holds(farO!)) {
    conditions.push({ field: 'value', relation: up ? 'below' : 'above', value: fmt(far) });
    notes.push(`${fmt(far)} gives no variant: a band, not an open threshold`);
  }
  if (told(nearO!) && holds(nearO!)) notes.push(`${fmt(near)}, beyond the baseline value, gives the variant too: not a threshold`);
  const edge = exact ? ` (numeric: ${fmt(lo)} gives the baseline, ${fmt(hi)} the variant)` : ` (numeric: the edge lies between ${fmt(lo)} and ${fmt(hi)})`;
  return { minimal: [fmt(hi)], rule: `${ruleText(conditions, plan.subject)}${edge}`, conditions };
}
