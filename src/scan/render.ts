import { escapeCodePoints } from '../report/escape.js';
import { fitToWidth } from '../report/fit.js';
import type { ScanGroup, ScanReport } from './schema.js';

export interface ScanRenderOptions {
  color?: boolean;
  /** Wrap to a terminal's width; undefined keeps one line per group. */
  width?: number;
}

const KIND_COLOR: Record<ScanGroup['kind'], string> = {
  'bidi-control': '\x1b[1;31m',
  invisible: '\x1b[1;31m',
  confusable: '\x1b[1;31m',
  'modifier-punctuation': '\x1b[31m',
  'mixed-punctuation': '\x1b[33m',
  'mixed-script': '\x1b[33m',
  'unusual-space': '\x1b[36m',
};
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';
const HILITE = '\x1b[7m';

/** Code points of context either side on a line (the JSON keeps 24). */
const SHOWN_CONTEXT = 16;

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** "c003-r1 #2" for a scenario run's exchange, "#2" for a bare proxy capture. */
function label(l: { run: string | null; seq: number }): string {
  return l.run ? `${l.run} #${l.seq}` : `#${l.seq}`;
}

/** The requests a group occurs in, short: all of up to three, else the first and the last. */
function where(g: ScanGroup): string {
  const seen: string[] = [];
  for (const l of g.locations) if (!seen.includes(label(l))) seen.push(label(l));
  const shown = seen.length <= 3 ? seen.join(', ') : `${seen[0]} … ${seen[seen.length - 1]}`;
  const places = g.occurrences > g.requests ? `${g.occurrences} places in ` : '';
  return `in ${places}${plural(g.requests, 'request')} (${shown})`;
}

/** One group, one line: kind, code points, field and requests, then the first place it occurs in context. */
export function renderScanGroup(g: ScanGroup, options: ScanRenderOptions = {}): string {
  const paint = (code: string, text: string) => (options.color ? `${code}${text}${RESET}` : text);
  const cps = g.codePoints.slice(0, 3).map((c) => `${c.cp} ${c.name}`).join(', ') + (g.codePoints.length > 3 ? `, +${g.codePoints.length - 3}` : '');
  const looks = g.looksLike !== undefined ? ` (looks like "${escapeCodePoints(g.looksLike)}")` : '';
  const decoded = g.decoded !== undefined ? ` (spells "${escapeCodePoints(g.decoded)}")` : '';
  const first = g.locations[0]!.context;
  const before = Array.from(first.before).slice(-SHOWN_CONTEXT).join('');
  const after = Array.from(first.after).slice(0, SHOWN_CONTEXT).join('');
  const context = `"${paint(DIM, escapeCodePoints(before))}${paint(HILITE, escapeCodePoints(first.text))}${paint(DIM, escapeCodePoints(after))}"`;
  const others = g.words.length > 1 ? ` (also ${g.words.slice(1, 4).map((w) => `"${escapeCodePoints(w)}"`).join(', ')}${g.words.length > 4 ? ', …' : ''})` : '';
  return `${paint(KIND_COLOR[g.kind], g.kind)}  ${cps}${looks}${decoded}  ${g.field} ${where(g)}: ${context}${others}`;
}

export function renderScan(report: ScanReport, options: ScanRenderOptions = {}): string {
  const s = report.scanned;
  const counts = Object.entries(report.counts.byKind).map(([k, n]) => `${n} ${k}`).join(', ');
  const of = report.shape === 'run-dir' ? ` of ${plural(s.runs, 'run')}` : '';
  const lines = [
    `promptdiff scan: ${report.counts.total ? plural(report.counts.total, 'suspicious spot') : 'nothing suspicious'}${counts ? ` (${counts})` : ''}` +
      `${report.counts.occurrences > report.counts.total ? ` in ${report.counts.occurrences} places` : ''}` +
      ` · ${plural(s.exchanges, 'exchange')}${of} · ${plural(s.fields, 'field')} · ${s.nonAscii} non-ASCII code points`,
  ];
  for (const g of report.groups) lines.push(renderScanGroup(g, options));
  const letters = Object.entries(report.ordinary.letters).sort(([, a], [, b]) => b - a);
  const typo = Object.entries(report.ordinary.typographic).sort(([, a], [, b]) => b - a);
  const ordinary = [
    ...(letters.length ? [`${letters.reduce((n, [, c]) => n + c, 0)} letters in words of one script (${letters.map(([k, n]) => `${k} ${n}`).join(', ')})`] : []),
    ...(typo.length ? [`typographic punctuation used throughout its field (${typo.map(([k, n]) => `${k} ×${n}`).join(', ')})`] : []),
  ];
  if (ordinary.length) lines.push(`ordinary: ${ordinary.join('; ')}`);
  if (report.allow.suppressed) lines.push(`allowed: ${plural(report.allow.suppressed, 'spot')} matched the allow list`);
  for (const w of report.warnings) lines.push(`warning: ${w}`);
  for (const n of report.notes) lines.push(paint(DIM, `note: ${n}`));
  return `${fitToWidth(lines.join('\n'), options.width)}\n`;

  function paint(code: string, text: string): string {
    return options.color ? `${code}${text}${RESET}` : text;
  }
}
