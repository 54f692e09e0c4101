import type { Change, Finding, Findings, Group } from '../diff/findings-schema.js';
import { howMany } from '../diff/where.js';

/**
 * One self-contained HTML file: no scripts, fonts or images from anywhere, so a researcher can
 * publish it next to the run directory and open it offline. Changed code points carry their name
 * in a tooltip (class `cp-changed`), invisible ones also get a visible marker.
 */
export function renderHtml(findings: Findings): string {
  const s = findings.summary;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>promptdiff: ${s.counts.total} findings</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>promptdiff report</h1>
<p class="summary">${esc(headline(findings))}</p>
${list('Notes', s.noise.notes)}
${list('Failed runs', s.runsFailed.map((r) => `${r.id} (${r.cell}): ${r.status}${r.message ? ` — ${r.message}` : ''}`))}
${list('Warnings', s.warnings)}
</header>
<main>
${matrix(findings)}
${findings.findings.map((f, i) => findingSection(findings, f, i)).join('\n')}
</main>
<footer>
<p>Unicode data — properties: ${esc(s.unicode.properties)}; names: ${esc(s.unicode.names)}; confusables: ${esc(s.unicode.confusables)}.</p>
<p>${esc(findings.tool.name)} ${esc(findings.tool.version)} · generated ${esc(findings.generatedAt)} · run directory ${esc(findings.runDir)}</p>
</footer>
</body>
</html>
`;
}

const CSS = `
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1400px;padding:1em 2em;color:#1b1b1b;background:#fff}
h1{margin:.2em 0}h2{margin:1.6em 0 .3em;font-size:1.15em}
code,pre,.span{font-family:ui-monospace,Menlo,Consolas,monospace}
.summary{font-weight:600}
table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:.25em .5em;vertical-align:top;text-align:left}
.matrix td.v{text-align:center;font-family:ui-monospace,monospace}
.matrix td.g0{background:#f2f2f2;color:#666}.matrix td.g1{background:#ffd7d7}.matrix td.g2{background:#ffe9b3}.matrix td.g3{background:#d9ecff}
.cls{display:inline-block;padding:0 .4em;border-radius:.3em;font-size:.85em;font-weight:600;background:#eee}
.cls-invisible,.cls-confusable{background:#b00020;color:#fff}
.cls-whitespace-lookalike{background:#e65100;color:#fff}
.cls-punctuation-swap,.cls-format-change{background:#f9a825}
.cls-value-change{background:#80deea}.cls-echo{background:#ce93d8}.cls-expected{background:#e0e0e0;color:#555}
.cls-request-presence,.cls-field-presence{background:#90caf9}
.sides{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:.8em}
.side{border:1px solid #ccc;border-radius:.4em;padding:.5em}
.side.baseline{background:#fafafa}
.span{white-space:pre-wrap;word-break:break-all;background:#f6f8fa;padding:.4em;border-radius:.3em}
.ctx{color:#888}
.cp-changed{background:#ffeb3b;outline:2px solid #d50000;border-radius:2px;cursor:help}
.cp-marker{font-size:.8em;color:#b00020;font-weight:700}
.cp-gap{display:inline-block;min-width:.5em;border-left:2px solid #d50000}
pre.full{white-space:pre-wrap;word-break:break-all;max-height:40em;overflow:auto;background:#f6f8fa;padding:.5em}
pre.full mark{background:#ffeb3b}
.meta{color:#555}
`;

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function hex(cp: number): string {
  return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
}

function headline(f: Findings): string {
  const s = f.summary;
  const by = Object.entries(s.counts.byClass)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');
  return (
    `${s.counts.total} finding${s.counts.total === 1 ? '' : 's'}${by ? ` (${by})` : ''} · ${s.cells.length} cells · ` +
    `${s.runs.compared}/${s.runs.total} runs compared · ${s.repetitions.min}–${s.repetitions.max} repetitions per cell · ` +
    `${s.alignedRequests} requests · ${s.fieldsCompared} fields`
  );
}

function list(title: string, items: string[]): string {
  if (items.length === 0) return '';
  return `<section><h3>${esc(title)}</h3><ul>${items.map((i) => `<li>${esc(i)}</li>`).join('')}</ul></section>`;
}

function label(i: number): string {
  return `F${i + 1}`;
}

/** Cells down, findings across: which variant each cell produced (A = the baseline). */
function matrix(f: Findings): string {
  if (f.findings.length === 0) return '<p>No findings.</p>';
  const axes = Object.keys(f.summary.axes);
  const head =
    `<tr><th>cell</th>${axes.map((a) => `<th>${esc(a)}</th>`).join('')}` +
    f.findings
      .map((x, i) => `<th><a href="#${esc(x.id)}" title="${esc(`${x.class}: ${x.location.path}`)}">${label(i)}</a></th>`)
      .join('') +
    '</tr>';
  const rows = f.summary.cells.map((cell) => {
    const cols = f.findings.map((x) => {
      const gi = x.attribution.groups.findIndex((g) => g.cells.includes(cell.id));
      if (gi < 0) return '<td class="v" title="not compared">·</td>';
      const g = x.attribution.groups[gi]!;
      const text = x.span === null ? (g.present ? 'present' : 'absent') : g.text;
      return `<td class="v g${Math.min(gi, 3)}" title="${esc(text)}">${String.fromCharCode(65 + (gi % 26))}</td>`;
    });
    return `<tr><th>${esc(cell.id)}</th>${axes.map((a) => `<td>${esc(cell.values[a] ?? '')}</td>`).join('')}${cols.join('')}</tr>`;
  });
  return `<section><h2>Cells × findings</h2><table class="matrix">${head}${rows.join('')}</table></section>`;
}

function condition(g: Group, axes: string[]): string {
  if (g.baseline) return 'baseline (most cells)';
  if (axes.length === 0) return `cells ${g.cells.join(', ')}`;
  return axes.map((a) => `${a} ∈ {${(g.values[a] ?? []).join(', ')}}`).join(' ∧ ');
}

/** A code point that differs between groups: visible, named, and marked even when it has no glyph. */
function changedCp(ch: string, name: string): string {
  const cp = ch.codePointAt(0)!;
  const hidden = /^[\p{C}\p{Z}\p{Default_Ignorable_Code_Point}]$/u.test(ch) && ch !== ' ';
  const marker = hidden ? `<span class="cp-marker">⟨${hex(cp)}⟩</span>` : '';
  return `<span class="cp-changed" title="${esc(`${hex(cp)} ${name}`.trim())}">${esc(ch)}${marker}</span>`;
}

/**
 * The span with its changed code points wrapped. `ranges` are [start, end) offsets into the full
 * string; the span starts at `offset`. An empty range (the other side inserted here) gets a gap mark.
 */
function highlightSpan(text: string, offset: number, ranges: Array<[number, number]>, names: Map<string, string>): string {
  let out = '';
  let i = 0;
  const inside = (pos: number): boolean => ranges.some(([s, e]) => pos >= s && pos < e);
  const gaps = new Set(ranges.filter(([s, e]) => s === e).map(([s]) => s));
  for (const ch of text) {
    const pos = offset + i;
    if (gaps.has(pos)) out += '<span class="cp-gap" title="the other side has code points here"></span>';
    out += inside(pos) ? changedCp(ch, names.get(ch) ?? '') : esc(ch);
    i += ch.length;
  }
  if (gaps.has(offset + i)) out += '<span class="cp-gap" title="the other side has code points here"></span>';
  return out;
}

function namesOf(changes: Change[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const c of changes) for (const cp of [...c.removed, ...c.added]) out.set(cp.char, cp.name);
  return out;
}

function sides(f: Finding): string {
  const axes = f.attribution.axes;
  const groups = f.attribution.groups;
  const all = groups.flatMap((g) => g.changes);
  const names = namesOf(all);
  return groups
    .map((g) => {
      const ranges: Array<[number, number]> = g.baseline
        ? all.map((c) => [c.offsetBefore, c.offsetBefore + c.before.length])
        : g.changes.map((c) => [c.offsetAfter, c.offsetAfter + c.after.length]);
      const body =
        f.span === null
          ? `<div class="span">${g.present ? `present: ${esc(g.text)}` : 'absent'}</div>`
          : `<div class="span"><span class="ctx">${esc(g.context.before)}</span>${highlightSpan(g.text, g.offset, ranges, names)}<span class="ctx">${esc(g.context.after)}</span></div>`;
      return `<div class="side${g.baseline ? ' baseline' : ''}">
<div><strong>${esc(condition(g, axes))}</strong></div>
<div class="meta">cells ${esc(g.cells.join(', '))} · runs ${esc(g.runs.join(', '))}${f.span ? ` · offset ${g.offset} (code point ${g.cpOffset})` : ''}</div>
${body}
</div>`;
    })
    .join('\n');
}

function changeTable(f: Finding): string {
  const rows = f.attribution.groups.flatMap((g) =>
    g.changes.map(
      (c) =>
        `<tr><td>${esc(condition(g, f.attribution.axes))}</td><td>${c.offsetBefore} → ${c.offsetAfter}</td>` +
        `<td>${c.removed.map((x) => `${x.cp} ${esc(x.name)}`).join('<br>') || '—'}</td>` +
        `<td>${c.added.map((x) => `${x.cp} ${esc(x.name)}`).join('<br>') || '—'}</td></tr>`,
    ),
  );
  if (rows.length === 0) return '';
  return `<table class="changes"><tr><th>group</th><th>offset (baseline → group)</th><th>removed</th><th>added</th></tr>${rows.join('')}</table>`;
}

function fullTexts(all: Findings, f: Finding): string {
  return f.attribution.groups
    .filter((g) => g.textRef && all.texts[g.textRef] !== undefined)
    .map((g) => {
      const text = all.texts[g.textRef!]!;
      const end = g.offset + g.text.length;
      const marked = `${esc(text.slice(0, g.offset))}<mark>${esc(text.slice(g.offset, end))}</mark>${esc(text.slice(end))}`;
      return `<details><summary>Full captured ${esc(f.location.path)} — ${esc(condition(g, f.attribution.axes))} (${text.length} chars)</summary><pre class="full">${marked}</pre></details>`;
    })
    .join('\n');
}

function attributionNotes(f: Finding): string {
  const a = f.attribution;
  const notes: string[] = [];
  notes.push(a.axes.length ? `driven by ${a.axes.join(' × ')}` : 'not attributed to any axis');
  if (a.interaction) notes.push('interaction: only the combination determines it');
  if (a.confounded.length) notes.push(`confounded: ${a.confounded.map((x) => x.join(' + ')).join(' | ')} explain it equally well`);
  if (a.suggestedCells.length) {
    notes.push(`to separate them, add cells: ${a.suggestedCells.map((c) => Object.entries(c).map(([k, v]) => `${k}=${v}`).join(' ')).join('; ')}`);
  }
  if (f.echo) notes.push(`echoes the ${f.echo.axis} value ${f.echo.value}`);
  if (f.expected) notes.push(`expected by rule ${f.expected.path} ~ ${f.expected.axis}`);
  if (f.changeClass) notes.push(`the bytes alone: ${f.changeClass}`);
  return `<p class="meta">${notes.map(esc).join(' · ')}</p>`;
}

/** Every request the change occurs in, with its offset there. */
function whereList(f: Finding): string {
  const items = f.locations.map(
    (l) => `<li>${esc(l.exchange)} <code>${esc(l.path)}</code>${l.span ? ` · offset ${l.span.offset} (code point ${l.span.cpOffset})` : ''}</li>`,
  );
  return `<div class="where"><span class="meta">${esc(howMany(f.locations))}:</span><ul>${items.join('')}</ul></div>`;
}

function findingSection(all: Findings, f: Finding, i: number): string {
  return `<section class="finding" id="${esc(f.id)}">
<h2>${label(i)} <span class="cls cls-${esc(f.class)}">${esc(f.class)}</span> <code>${esc(f.location.path)}</code></h2>
${whereList(f)}
${attributionNotes(f)}
<div class="sides">${sides(f)}</div>
${changeTable(f)}
${fullTexts(all, f)}
</section>`;
}
