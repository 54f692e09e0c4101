/**
 * Wrapping report lines to a terminal's width. A finding line can run to hundreds of columns;
 * on a terminal it is wrapped (never cut: --json and the HTML carry the same text in full), with
 * continuation lines indented so each finding still starts at the left margin.
 *
 * The lines hold only ASCII, a few one-column symbols (∈ → … ·) and ANSI colour codes:
 * escapeCodePoints has turned everything else into \u{…}, so one code point is one column.
 */

const ANSI = /\x1b\[[0-9;]*m/y;
const ESCAPE = /\\(u\{[0-9A-F]+\}|.)/y;

/** The line cut into pieces never to split: an ANSI code, an escape (\u{200B}, \n, \\), or one code point. */
function units(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    let m: RegExpExecArray | null = null;
    for (const re of [ANSI, ESCAPE]) {
      re.lastIndex = i;
      m = re.exec(line);
      if (m) break;
    }
    const piece = m ? m[0] : String.fromCodePoint(line.codePointAt(i)!);
    out.push(piece);
    i += piece.length;
  }
  return out;
}

function isAnsi(unit: string): boolean {
  return unit.startsWith('\x1b[');
}

function width(unit: string): number {
  return isAnsi(unit) ? 0 : Array.from(unit).length;
}

const RESET = '\x1b[0m';

/**
 * Wraps one line to `columns`, continuation lines indented by `indent` spaces. It breaks at a
 * space outside quoted text where it can (the space is dropped), else exactly at the margin (no
 * code point dropped). A colour open at a break is closed at the end of the row and reopened after
 * the indent, so the indent is never highlighted.
 */
export function wrapLine(line: string, columns: number, indent = 4): string {
  const u = units(line);
  const w = u.map(width);
  if (columns <= indent + 10 || w.reduce((a, b) => a + b, 0) <= columns) return line;
  // Per unit: inside a quoted span, and the colour in force before it.
  const quoted: boolean[] = [];
  const colour: string[] = [];
  let q = false;
  let c = '';
  for (const piece of u) {
    quoted.push(q);
    colour.push(c);
    if (piece === '"') q = !q;
    else if (isAnsi(piece)) c = piece === RESET ? '' : c + piece;
  }
  colour.push(c);
  // Per unquoted space: the width of the word after it (up to the next unquoted space).
  const nextWord: number[] = new Array(u.length).fill(0);
  for (let i = u.length - 1, run = 0; i >= 0; i--) {
    if (u[i] === ' ' && !quoted[i]) {
      nextWord[i] = run;
      run = 0;
    } else run += w[i]!;
  }
  const rows: string[] = [];
  let start = 0;
  while (start < u.length) {
    const limit = rows.length === 0 ? columns : columns - indent;
    let end = start;
    let used = 0;
    let space = -1;
    while (end < u.length && used + w[end]! <= limit) {
      // A break there helps only if the word after it then fits a row of its own; a long quoted
      // span is better broken at the margin than pushed to a fresh row and broken anyway.
      if (u[end] === ' ' && !quoted[end] && end > start && nextWord[end]! <= columns - indent) space = end;
      used += w[end]!;
      end += 1;
    }
    if (end === start) end += 1; // a unit wider than the row: it goes alone
    let next = end;
    if (end < u.length) {
      if (u[end] === ' ' && !quoted[end]) next = end + 1;
      else if (space > start) {
        end = space;
        next = space + 1;
      }
    }
    const open = rows.length > 0 ? colour[start]! : '';
    const close = colour[end] ? RESET : '';
    rows.push(`${open}${u.slice(start, end).join('')}${close}`);
    start = next;
  }
  return rows.map((r, i) => (i === 0 ? r : `${' '.repeat(indent)}${r}`)).join('\n');
}

/** Every line of a block wrapped to `columns` (undefined: unchanged, as for a pipe or a file). */
export function fitToWidth(text: string, columns: number | undefined, indent = 4): string {
  if (!columns) return text;
  return text
    .split('\n')
    .map((l) => wrapLine(l, columns, indent))
    .join('\n');
}
