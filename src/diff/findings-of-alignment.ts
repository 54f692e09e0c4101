import { createHash } from 'node:crypto';
import type { Alignment, AlignedRequest } from './align.js';
import { attribute, groupCells, type CellVariant, type VariantGroup } from './attribute.js';
import { classifySpan, rank, type ChangeClass, type GroupView } from './classify.js';
import { findEcho } from './echo.js';
import { matchExpected, type ExpectRule } from './expect.js';
import type { Finding, FindingClass, Group, Location, Occurrence } from './findings-schema.js';
import { NEVER_EXPECTED } from './finding-classes.js';
import { axisCondition } from '../report/wording.js';
import { mergeSameChanges } from './same-changes.js';
import { countCodePoints, minimalChanges } from './minimal.js';
import { analyseField, type Design, type FieldAnalysis, type Span } from './noise.js';
import { compareExchange } from './where.js';

export interface Analysis {
  findings: Finding[];
  texts: Record<string, string>;
  maskedSpans: number;
  maskedPresence: number;
  fieldsCompared: number;
}

const CONTEXT = 40;
const TOKEN_REACH = 64;
const PREVIEW = 200;

function sha(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

function findingId(exchange: string, path: string, offset: number, length: number): string {
  return `f-${sha(`${exchange}\n${path}\n${offset}\n${length}`).slice(0, 10)}`;
}

function occurrence(id: string, loc: Location, span: Finding['span'], groups: Group[]): Occurrence {
  return { ...loc, id, span, groups: groups.map((g) => ({ offset: g.offset, cpOffset: g.cpOffset, textRef: g.textRef })) };
}

/** The whitespace-delimited stretch around [s, e): what a reader sees as "the word" that changed. */
function tokenAround(value: string, s: number, e: number): string {
  let a = s;
  while (a > 0 && s - a < TOKEN_REACH && !/\s/u.test(value[a - 1]!)) a--;
  let b = e;
  while (b < value.length && b - e < TOKEN_REACH && !/\s/u.test(value[b]!)) b++;
  return value.slice(a, b);
}

const LINE_REACH = 240;

/** The span and the rest of its line, stopping at a tab (a tool's line-number column) or far away. */
function lineAround(value: string, s: number, e: number): string {
  let a = s;
  while (a > 0 && s - a < LINE_REACH && value[a - 1] !== '\n' && value[a - 1] !== '\t') a--;
  let b = e;
  while (b < value.length && b - e < LINE_REACH && value[b] !== '\n' && value[b] !== '\t') b++;
  return value.slice(a, b);
}

function runsOfCells(cells: string[], runCell: Map<string, string>, runs: Iterable<string>): string[] {
  const wanted = new Set(cells);
  return [...runs].filter((r) => wanted.has(runCell.get(r)!));
}

function describeGroup(g: Pick<Group, 'values' | 'text' | 'baseline'>, axes: string[], quote: (t: string) => string): string {
  if (g.baseline || axes.length === 0) return `others → ${quote(g.text)}`;
  return `${axisCondition(g.values, axes)} → ${quote(g.text)}`;
}

/** The finding in words, without its place (merging prepends where it occurs). */
function summarise(cls: FindingClass, axes: string[], groups: Group[]): string {
  const q = (t: string): string => JSON.stringify(t.length > 60 ? `${t.slice(0, 57)}...` : t);
  const parts = [...groups.filter((g) => !g.baseline), ...groups.filter((g) => g.baseline)].map((g) =>
    describeGroup(g, axes, q),
  );
  const by = axes.length > 0 ? axes.join(' × ') : 'no axis';
  return `${cls} driven by ${by}: ${parts.join('; ')}`;
}

/** Key order is a finding only when the keys are the same; added or missing keys are presence findings. */
function sameKeySets(valuesByRun: Map<string, string>): boolean {
  const sets = new Set([...valuesByRun.values()].map((v) => v.split(',').sort().join(',')));
  return sets.size <= 1;
}

interface PendingPresence {
  path: string;
  byCell: Map<string, string>;
  sample: string;
}

/** Where a path may be cut: before each `.`, `[` or `{` that starts a segment. */
function commonPrefix(a: string, b: string): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  if (i === a.length && i === b.length) return a;
  let cut = i;
  const boundary = (str: string, at: number): boolean => at >= str.length || '.[{'.includes(str[at]!);
  while (cut > 0 && !(boundary(a, cut) && boundary(b, cut))) cut--;
  return a.slice(0, cut);
}

/**
 * One added message brings a dozen leaf fields with it; report the message once. Fields that come
 * and go in the same cells and sit under one container deeper than the body itself become one
 * finding at that container.
 */
function groupPresence(pending: PendingPresence[]): Array<PendingPresence & { fields: string[] }> {
  const byPattern = new Map<string, PendingPresence[]>();
  for (const p of pending) {
    const key = JSON.stringify([...p.byCell].sort());
    byPattern.set(key, [...(byPattern.get(key) ?? []), p]);
  }
  const out: Array<PendingPresence & { fields: string[] }> = [];
  for (const members of byPattern.values()) {
    let current: (PendingPresence & { fields: string[] }) | null = null;
    for (const m of members) {
      const prefix = current ? commonPrefix(current.path, m.path) : '';
      if (current && /^body[.[{].+/.test(prefix)) {
        current.path = prefix;
        current.fields.push(m.path);
        continue;
      }
      current = { ...m, fields: [m.path] };
      out.push(current);
    }
  }
  return out;
}

class Analyzer {
  /** One per request and span; merged into findings at the end. */
  readonly drafts: Array<{ finding: Finding; what: string }> = [];
  readonly texts: Record<string, string> = {};
  maskedSpans = 0;
  maskedPresence = 0;
  fieldsCompared = 0;

  constructor(
    private readonly design: Design,
    private readonly rules: ExpectRule[],
  ) {}

  private textRef(value: string): string {
    const ref = sha(value);
    this.texts[ref] ??= value;
    return ref;
  }

  private variants(byCell: Map<string, string>): CellVariant[] {
    return [...byCell].map(([cell, variant]) => ({ cell, values: this.design.cells.get(cell) ?? {}, variant }));
  }

  /** present/absent per cell, or null when presence is uniform or is itself noise. */
  private presence(universe: Iterable<string>, present: (run: string) => boolean): Map<string, string> | null {
    const byCell = new Map<string, string>();
    let noise = false;
    for (const run of universe) {
      const cell = this.design.runCell.get(run)!;
      const v = present(run) ? 'present' : 'absent';
      const prev = byCell.get(cell);
      if (prev === undefined) byCell.set(cell, v);
      else if (prev !== v) noise = true;
    }
    if (noise) {
      this.maskedPresence++;
      return null;
    }
    return new Set(byCell.values()).size > 1 ? byCell : null;
  }

  request(req: AlignedRequest, comparedRuns: string[]): void {
    const byCell = this.presence(comparedRuns, (r) => req.runs.has(r));
    if (byCell) {
      const sample = req.runs.values().next().value;
      this.presenceFinding('request-presence', { ...req.location, path: 'request' }, byCell, comparedRuns, sample?.get('request.line') ?? req.key);
    }
    const paths: string[] = [];
    const seen = new Set<string>();
    for (const fields of req.runs.values()) {
      for (const p of fields.keys()) {
        if (!seen.has(p)) {
          seen.add(p);
          paths.push(p);
        }
      }
    }
    const absentFields: PendingPresence[] = [];
    for (const path of paths) this.field(req, path, absentFields);
    for (const group of groupPresence(absentFields)) {
      const loc: Location = { ...req.location, path: group.path };
      this.presenceFinding('field-presence', loc, group.byCell, [...req.runs.keys()], group.sample, group.fields);
    }
  }

  private field(req: AlignedRequest, path: string, absentFields: PendingPresence[]): void {
    this.fieldsCompared++;
    const loc: Location = { ...req.location, path };
    const valuesByRun = new Map<string, string>();
    for (const [run, fields] of req.runs) {
      const v = fields.get(path);
      if (v !== undefined) valuesByRun.set(run, v);
    }
    if (valuesByRun.size < req.runs.size) {
      const byCell = this.presence(req.runs.keys(), (r) => valuesByRun.has(r));
      if (byCell) absentFields.push({ path, byCell, sample: valuesByRun.values().next().value ?? '' });
    }
    if (path.endsWith('{keys}') && !sameKeySets(valuesByRun)) return;
    const fa = analyseField(valuesByRun, this.design);
    if (!fa) return;
    this.maskedSpans += fa.masked;
    for (const span of fa.spans) this.spanFinding(loc, fa, span);
  }

  private presenceFinding(
    cls: 'request-presence' | 'field-presence',
    loc: Location,
    byCell: Map<string, string>,
    runs: string[],
    sample: string,
    fields?: string[],
  ): void {
    const cv = this.variants(byCell);
    const attr = attribute(this.design.axes, cv);
    const raw = groupCells(attr.axes, cv);
    const groups: Group[] = raw.map((g, i) => ({
      text: g.variant === 'present' ? sample.slice(0, PREVIEW) : '',
      values: g.values,
      combos: g.combos,
      baseline: i === 0,
      cells: g.cells,
      runs: runsOfCells(g.cells, this.design.runCell, runs),
      offset: 0,
      cpOffset: 0,
      context: { before: '', after: '' },
      changes: [],
      textRef: null,
      present: g.variant === 'present',
    }));
    const rule = matchExpected(this.rules, loc.path, attr.axes);
    const finalClass: FindingClass = rule ? 'expected' : cls;
    const presentIn = groups.filter((g) => g.present).flatMap((g) => g.cells);
    const id = findingId(loc.exchange, `${cls}:${loc.path}`, 0, 0);
    const what =
      `${cls === 'request-presence' ? 'request' : 'field'} sent only in cells ` +
      `${presentIn.join(', ')} (driven by ${attr.axes.join(' × ') || 'no axis'})`;
    this.drafts.push({
      what,
      finding: {
        id,
        class: finalClass,
        ...(rule ? { changeClass: cls, expected: rule } : {}),
        location: loc,
        locations: [occurrence(id, loc, null, groups)],
        ...(fields && fields.length > 1 ? { fields } : {}),
        span: null,
        attribution: { ...attr, groups },
        summary: what,
      },
    });
  }

  private spanFinding(loc: Location, fa: FieldAnalysis, span: Span): void {
    const cv = this.variants(span.byCell);
    const attr = attribute(this.design.axes, cv);
    const raw = groupCells(attr.axes, cv);
    // Each cell's runs hold one value of the field for this span; any of them represents the cell.
    const valueOfCell = new Map<string, number>();
    fa.runsOfValue.forEach((runs, vi) => {
      for (const r of runs) {
        const cell = this.design.runCell.get(r)!;
        if (!valueOfCell.has(cell)) valueOfCell.set(cell, vi);
      }
    });
    const allRuns = fa.runsOfValue.flat();
    const sides = raw.map((g: VariantGroup) => {
      const vi = valueOfCell.get(g.cells[0]!)!;
      const value = fa.values[vi]!;
      const [s, e] = span.slices[vi]!;
      return { g, value, s, e, cpOffset: countCodePoints(value.slice(0, s)) };
    });
    const base = sides[0]!;
    const baseToken = tokenAround(base.value, base.s, base.e);
    const baseContext = base.value.slice(Math.max(0, base.s - CONTEXT), base.e + CONTEXT);
    const views: GroupView[] = [];
    const groups: Group[] = sides.map((side, i) => {
      const text = side.value.slice(side.s, side.e);
      const changes =
        i === 0
          ? []
          : minimalChanges(
              { text: base.value.slice(base.s, base.e), offset: base.s, cpOffset: base.cpOffset },
              { text, offset: side.s, cpOffset: side.cpOffset },
            );
      if (i > 0) {
        views.push({
          changes,
          baselineToken: baseToken,
          token: tokenAround(side.value, side.s, side.e),
          context: side.value.slice(Math.max(0, side.s - CONTEXT), side.e + CONTEXT),
          baselineContext: baseContext,
        });
      }
      return {
        text,
        values: side.g.values,
        combos: side.g.combos,
        baseline: i === 0,
        cells: side.g.cells,
        runs: runsOfCells(side.g.cells, this.design.runCell, allRuns),
        offset: side.s,
        cpOffset: side.cpOffset,
        context: {
          before: side.value.slice(Math.max(0, side.s - CONTEXT), side.s),
          after: side.value.slice(side.e, side.e + CONTEXT),
        },
        changes,
        textRef: this.textRef(side.value),
      };
    });
    const changeClass: ChangeClass = classifySpan(views);
    let cls: FindingClass = changeClass;
    let echo: { axis: string; value: string } | null = null;
    {
      const axesFirst = [...attr.axes, ...this.design.axes.filter((a) => !attr.axes.includes(a))];
      echo = findEcho(
        axesFirst,
        sides.map((s) => ({
          token: tokenAround(s.value, s.s, s.e),
          text: s.value.slice(s.s, s.e),
          line: lineAround(s.value, s.s, s.e),
          cellValues: s.g.cells.map((c) => this.design.cells.get(c) ?? {}),
        })),
        this.design.needles,
        changeClass !== 'value-change',
      );
      if (echo) cls = 'echo';
    }
    const rule = NEVER_EXPECTED.has(changeClass) ? null : matchExpected(this.rules, loc.path, attr.axes);
    if (rule) cls = 'expected';
    const id = findingId(loc.exchange, loc.path, span.start, span.end - span.start);
    const spanOut = { offset: base.s, length: base.e - base.s, cpOffset: base.cpOffset };
    const what = summarise(cls, attr.axes, groups);
    this.drafts.push({
      what,
      finding: {
        id,
        class: cls,
        ...(cls !== changeClass ? { changeClass } : {}),
        location: loc,
        locations: [occurrence(id, loc, spanOut, groups)],
        span: spanOut,
        attribution: { ...attr, groups },
        ...(echo ? { echo } : {}),
        ...(rule ? { expected: rule } : {}),
        summary: what,
      },
    });
  }
}

export function findingsOfAlignment(alignment: Alignment, design: Design, rules: ExpectRule[]): Analysis {
  const analyzer = new Analyzer(design, rules);
  const compared = [...design.runCell.keys()];
  for (const req of alignment.values()) analyzer.request(req, compared);
  const findings = mergeSameChanges(analyzer.drafts).sort(
    (a, b) =>
      rank(a.class) - rank(b.class) ||
      compareExchange(a.location.exchange, b.location.exchange) ||
      a.location.path.localeCompare(b.location.path) ||
      (a.span?.offset ?? 0) - (b.span?.offset ?? 0),
  );
  return {
    findings,
    texts: analyzer.texts,
    maskedSpans: analyzer.maskedSpans,
    maskedPresence: analyzer.maskedPresence,
    fieldsCompared: analyzer.fieldsCompared,
  };
}
