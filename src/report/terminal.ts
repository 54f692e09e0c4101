import type { Finding, Findings, Group } from '../diff/findings-schema.js';
import { CODE_POINT_CLASSES, FINDING_CLASS_INFO } from '../diff/finding-classes.js';
import { describeWhere } from '../diff/where.js';
import { ellipsis, escapeCodePoints } from './escape.js';
import { fitToWidth } from './fit.js';
import type { Explain } from '../explain/schema.js';
import { explainedLines } from './explained.js';
import { groupCondition } from './wording.js';

export interface TerminalOptions {
  /** ANSI colour; callers turn it on for a TTY. */
  color?: boolean;
  /** Code points of context shown either side of a span. */
  context?: number;
  /** Wrap lines to this many columns (a terminal's width); undefined keeps one line per finding, for pipes and files. */
  width?: number;
  /** `promptdiff explain` results by finding id: each rule is printed under its finding. */
  explanations?: ReadonlyMap<string, Explain>;
}

const RESET = '\x1b[0m';
const HILITE = '\x1b[7m';
const DIM = '\x1b[2m';

class Paint {
  constructor(private readonly on: boolean) {}
  wrap(code: string, text: string): string {
    return this.on ? `${code}${text}${RESET}` : text;
  }
}

function tail(text: string, n: number): string {
  const cps = Array.from(text);
  return cps.slice(Math.max(0, cps.length - n)).join('');
}
function head(text: string, n: number): string {
  return Array.from(text).slice(0, n).join('');
}

/** The span with a little context, the span itself highlighted when colour is on. */
function shown(g: Group, p: Paint, ctx: number): string {
  const before = escapeCodePoints(tail(g.context.before, ctx));
  const after = escapeCodePoints(head(g.context.after, ctx));
  const span = escapeCodePoints(ellipsis(g.text, 80));
  return `"${p.wrap(DIM, before)}${p.wrap(HILITE, span)}${p.wrap(DIM, after)}"`;
}

const condition = groupCondition;

function presenceLine(f: Finding): string {
  const axes = f.attribution.axes;
  const present = f.attribution.groups.filter((g) => g.present);
  const absent = f.attribution.groups.filter((g) => !g.present);
  const what = f.location.path === 'request' ? 'request sent' : 'field present';
  return `${what} when ${present.map((g) => condition(g, axes)).join(' or ')}; absent when ${absent
    .map((g) => condition(g, axes))
    .join(' or ')}`;
}

function changeLine(f: Finding, p: Paint, ctx: number): string {
  const axes = f.attribution.axes;
  const base = f.attribution.groups.find((g) => g.baseline);
  const others = f.attribution.groups.filter((g) => !g.baseline);
  if (!base) return '';
  return others.map((g) => `${condition(g, axes)}: ${shown(base, p, ctx)} → ${shown(g, p, ctx)}`).join('; ');
}

/** Names matter where the code point is the whole story; for a changed value they are clutter. */
function codePointNote(f: Finding): string {
  // An echo is a value written out: its letters' names (a hostname spelt code point by code point) are noise.
  if (f.class === 'echo' || !CODE_POINT_CLASSES.has(f.changeClass ?? f.class)) return '';
  const names = new Set<string>();
  for (const g of f.attribution.groups) {
    for (const c of g.changes) for (const cp of [...c.removed, ...c.added]) names.add(`${cp.cp} ${cp.name}`);
  }
  const list = [...names];
  if (list.length === 0) return '';
  return ` (${list.slice(0, 4).join(', ')}${list.length > 4 ? `, +${list.length - 4}` : ''})`;
}

function attributionNote(f: Finding): string {
  const a = f.attribution;
  const notes: string[] = [];
  if (!a.determined) notes.push('not determined by the axes');
  if (a.interaction) notes.push(`interaction of ${a.axes.join(' × ')}`);
  if (a.confounded.length > 0) {
    notes.push(`confounded: ${a.confounded.map((s) => s.join('+')).join(' | ')}`);
    if (a.suggestedCells.length > 0) {
      const cell = a.suggestedCells[0]!;
      notes.push(`add a cell like ${Object.entries(cell).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    }
  }
  if (f.echo) notes.push(`echoes ${f.echo.axis} value ${f.echo.value}`);
  if (f.expected) notes.push(`allowed by expect rule ${f.expected.path} ~ ${f.expected.axis}`);
  return notes.length ? ` [${notes.join('; ')}]` : '';
}

/** One finding, one line: where, what drives it, before → after, the class. */
export function renderFindingLine(f: Finding, options: TerminalOptions = {}): string {
  const p = new Paint(options.color ?? false);
  const ctx = options.context ?? 12;
  const at = f.span ? `@${f.span.offset}` : '';
  const where = describeWhere(f.locations, at);
  const by = f.attribution.axes.length ? f.attribution.axes.join(' × ') : '?';
  const body = f.span === null ? presenceLine(f) : changeLine(f, p, ctx);
  const info = FINDING_CLASS_INFO[f.class];
  const cls = p.wrap(info.terminal, info.label);
  return `${cls}  ${where}  by ${by}: ${body}${codePointNote(f)}${attributionNote(f)}`;
}

export function renderTerminal(findings: Findings, options: TerminalOptions = {}): string {
  const p = new Paint(options.color ?? false);
  const s = findings.summary;
  const lines: string[] = [];
  const counts = Object.entries(s.counts.byClass)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');
  lines.push(
    p.wrap('\x1b[1m', `promptdiff: ${s.counts.total} finding${s.counts.total === 1 ? '' : 's'}`) +
      (counts ? ` (${counts})` : '') +
      (s.counts.occurrences > s.counts.total ? ` in ${s.counts.occurrences} places` : '') +
      ` · ${s.cells.length} cells · ${s.runs.compared}/${s.runs.total} runs compared · ${s.alignedRequests} requests · ${s.fieldsCompared} fields`,
  );
  for (const f of findings.findings) {
    lines.push(renderFindingLine(f, options));
    const e = options.explanations?.get(f.id);
    if (e) lines.push(...explainedLines(e));
  }
  for (const note of s.noise.notes) lines.push(p.wrap(DIM, `note: ${note}`));
  for (const r of s.runsFailed) {
    lines.push(p.wrap('\x1b[31m', `run failed: ${r.id} (${r.cell}) ${r.status}${r.message ? `: ${r.message}` : ''}`));
  }
  for (const f of s.factorsSkipped ?? []) {
    lines.push(p.wrap('\x1b[31m', `not compared: factor ${f.factor} was skipped (${f.reason})`));
  }
  for (const n of s.notCompared ?? []) lines.push(p.wrap('\x1b[31m', `not compared: ${n}`));
  for (const w of s.warnings) lines.push(p.wrap(DIM, `warning: ${w}`));
  return `${fitToWidth(lines.join('\n'), options.width)}\n`;
}
