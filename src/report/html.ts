import type { Change, Finding, FindingClass, Findings, Group } from '../diff/findings-schema.js';
import { CODE_POINT_CLASSES, FINDING_CLASSES, FINDING_CLASS_INFO, classRank as rank } from '../diff/finding-classes.js';
import { howMany } from '../diff/where.js';
import { ellipsis } from './escape.js';
import type { Explain } from '../explain/schema.js';
import { EXPLAINED_CSS, explainedSection } from './explained.js';
import { groupCondition, variantConditions as variantsWording } from './wording.js';

/**
 * One self-contained HTML file: no scripts, fonts or images from anywhere, so a researcher can
 * publish it next to the run directory and open it offline. At the top an overview says, per
 * finding, which code points changed, where, and which axis drives it; then the cells × findings
 * matrix; then each finding side by side. Changed code points carry their name in a tooltip
 * (class `cp-changed`), invisible ones also get a visible marker; for value changes and echoes the
 * whole changed value is marked instead (class `val-changed`), since letter names are clutter there.
 */
export interface HtmlOptions {
  /**
   * Open with a one-screen verdict (which machine properties change which bytes), headed by these
   * lines about how the runs were chosen (an audit's stages and run counts).
   */
  verdict?: { lines: string[] };
  /** `promptdiff explain` results by finding id: an "explained" section after each one's finding. */
  explanations?: ReadonlyMap<string, Explain>;
}

export function renderHtml(findings: Findings, options: HtmlOptions = {}): string {
  const s = findings.summary;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>promptdiff: ${s.counts.total} finding${s.counts.total === 1 ? '' : 's'}</title>
<style>${CSS}${options.explanations?.size ? EXPLAINED_CSS : ''}</style>
</head>
<body>
<header>
<h1>promptdiff report</h1>
<p class="summary">${esc(headline(findings))}</p>
${list('Notes', s.noise.notes)}
${list('Failed runs', s.runsFailed.map((r) => `${r.id} (${r.cell}): ${r.status}${r.message ? ` — ${r.message}` : ''}`))}
${list('Factors not compared', (s.factorsSkipped ?? []).map((f) => `${f.factor}: skipped — ${f.reason}`))}
${list('Not compared', s.notCompared ?? [])}
${list('Warnings', s.warnings)}
</header>
<main>
${options.verdict ? verdict(findings, options.verdict.lines) : ''}
${overview(findings)}
${matrix(findings)}
${findings.findings.map((f, i) => findingSection(findings, f, i) + (options.explanations?.has(f.id) ? explainedSection(options.explanations.get(f.id)!) : '')).join('\n')}
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
h1{margin:.2em 0}h2{margin:1.8em 0 .4em;font-size:1.2em;padding-top:.6em;border-top:2px solid #ddd}h3{margin:1em 0 .3em}
a{color:#0645ad}
code,pre,.span,.mono{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace}
.summary{font-weight:600}
table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:.25em .5em;vertical-align:top;text-align:left}
th{background:#f4f4f4}
.overview td{vertical-align:middle}
.overview .chg{font-size:1.05em}
.cpname{font-family:ui-monospace,'DejaVu Sans Mono',monospace;white-space:nowrap}
.arrow{color:#888;padding:0 .3em}
.matrix td.v{text-align:center;font-family:ui-monospace,monospace;font-weight:600}
.matrix th.f{text-align:center;white-space:nowrap}
.matrix th.f small{display:block;font-weight:400;color:#555}
.matrix td.g0{background:#f2f2f2;color:#777}.matrix td.g1{background:#ffcdd2;color:#7f0000}.matrix td.g2{background:#ffe0a3;color:#6d4c00}.matrix td.g3{background:#cfe3ff;color:#0d3c7a}
.legend{color:#555;font-size:.9em}
.cls{display:inline-block;padding:0 .45em;border-radius:.3em;font-size:.85em;font-weight:600;background:#eee;vertical-align:middle}
${FINDING_CLASSES.map((c) => `.cls-${c}{${FINDING_CLASS_INFO[c].css}}`).join('\n')}
.verdict{table-layout:fixed;width:100%}.verdict th:first-child{width:14em}.verdict td{word-break:break-word}.vrow{margin:.15em 0 .45em}
.axis{display:inline-block;padding:0 .45em;border-radius:.3em;font-size:.85em;font-weight:600;background:#263238;color:#fff;vertical-align:middle}
.lede{font-size:1.1em;margin:.3em 0}
.where ul{margin:.2em 0 .4em;padding-left:1.4em}
.sides{display:grid;grid-template-columns:repeat(auto-fit,minmax(360px,1fr));gap:.8em;margin:.5em 0}
.side{border:1px solid #ccc;border-radius:.4em;padding:.5em .6em}
.side.baseline{background:#fafafa}
.side.variant{border-color:#d50000;border-width:1px 1px 1px 4px}
.span{white-space:pre-wrap;word-break:break-all;background:#f6f8fa;padding:.5em;border-radius:.3em;font-size:15px;line-height:1.7;margin-top:.3em}
.ctx{color:#777}
.cp-changed{background:#ffeb3b;color:#000;outline:2px solid #d50000;border-radius:2px;cursor:help;padding:0 1px;margin:0 1px}
.val-changed{background:#fff59d;outline:2px solid #ef6c00;border-radius:2px;padding:0 1px}
.cp-marker{display:inline-block;font-size:.72em;line-height:1.2;color:#fff;background:#b00020;border-radius:2px;padding:0 .2em;margin:0 1px;vertical-align:middle}
.cp-gap{display:inline-block;width:3px;height:1.2em;background:#d50000;vertical-align:middle;margin:0 2px;cursor:help}
details{margin:.2em 0}
summary{cursor:pointer;color:#0645ad}
pre.full{white-space:pre-wrap;word-break:break-all;max-height:40em;overflow:auto;background:#f6f8fa;padding:.5em;border:1px solid #ddd}
pre.full mark{background:#ffeb3b;outline:1px solid #d50000}
pre.full mark.here::after{content:'nothing here';font:600 .72em system-ui,sans-serif;color:#fff;background:#616161;border-radius:2px;padding:0 .3em;margin:0 1px}
pre.full .cp-hidden::after{content:attr(data-cp);font:600 .72em system-ui,sans-serif;color:#fff;background:#b00020;border-radius:2px;padding:0 .2em;margin:0 1px}
.meta{color:#555}
`;


/** Code points for covert changes; an echo is a value written out, shown as the words it changed. */
function byCodePoint(f: Finding): boolean {
  return f.span !== null && f.class !== 'echo' && f.class !== 'expected' && CODE_POINT_CLASSES.has(f.changeClass ?? f.class);
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function hex(cp: number): string {
  return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Text with every code point a reader could miss spelled out: "Don\u{2019}t" style, for titles and tables. */
function visible(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    out += cp >= 0x20 && cp < 0x7f ? ch : `⟨${hex(cp)}⟩`;
  }
  return out;
}

function headline(f: Findings): string {
  const s = f.summary;
  const by = Object.entries(s.counts.byClass)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');
  const places = s.counts.occurrences > s.counts.total ? ` in ${s.counts.occurrences} places` : '';
  return (
    `${s.counts.total} finding${s.counts.total === 1 ? '' : 's'}${by ? ` (${by})` : ''}${places} · ${s.cells.length} cells · ` +
    `${s.runs.compared}/${s.runs.total} runs compared · ${repetitions(s.repetitions)} per cell · ` +
    `${s.alignedRequests} requests · ${s.fieldsCompared} fields`
  );
}

/** "2 repetitions", or "1–2 repetitions" when cells differ (failed runs). */
function repetitions(r: { min: number; max: number }): string {
  return `${r.min === r.max ? r.min : `${r.min}–${r.max}`} repetition${r.max === 1 ? '' : 's'}`;
}

function list(title: string, items: string[]): string {
  if (items.length === 0) return '';
  return `<section><h3>${esc(title)}</h3><ul>${items.map((i) => `<li>${esc(i)}</li>`).join('')}</ul></section>`;
}

function label(i: number): string {
  return `F${i + 1}`;
}

function clsBadge(c: FindingClass): string {
  return `<span class="cls cls-${esc(c)}">${esc(FINDING_CLASS_INFO[c].label)}</span>`;
}

function axisBadge(f: Finding): string {
  const a = f.attribution;
  const text = a.axes.length ? a.axes.join(' × ') : 'no axis';
  return `<span class="axis" title="the axis whose value determines this change">${esc(text)}</span>`;
}

function condition(g: Group, axes: string[]): string {
  return g.baseline ? 'baseline (most cells)' : groupCondition(g, axes);
}

function variantConditions(f: Finding): string {
  return variantsWording(f.attribution.groups, f.attribution.axes);
}

function cpLabel(x: { cp: string; name: string }): string {
  return `<span class="cpname">${esc(`${x.cp} ${x.name}`.trim())}</span>`;
}

/** "U+0027 APOSTROPHE → U+2019 RIGHT SINGLE QUOTATION MARK", each distinct edit once. */
function codePointEdits(f: Finding): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const g of f.attribution.groups) {
    for (const c of g.changes) {
      const key = `${c.before}\u0000${c.after}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const removed = c.removed.map(cpLabel).join(' ');
      const added = c.added.map(cpLabel).join(' ');
      if (removed && added) out.push(`${removed}<span class="arrow">→</span>${added}`);
      else if (added) out.push(`adds ${added}`);
      else out.push(`removes ${removed}`);
    }
  }
  return out;
}

/** The whitespace-delimited word holding a group's span, as far as the stored context reaches. */
function word(g: Group | undefined): string {
  if (!g) return '';
  return `${/\S*$/u.exec(g.context.before)![0]}${g.text}${/^\S*/u.exec(g.context.after)![0]}`;
}

/** What changed, in one cell of the overview: code points for covert classes, the values for the rest. */
function changeSummary(f: Finding): string {
  const groups = f.attribution.groups;
  if (f.span === null) {
    const present = groups.filter((g) => g.present).map((g) => condition(g, f.attribution.axes));
    return `${f.location.path === 'request' ? 'request' : 'field'} sent only when ${esc(present.join(' or '))}`;
  }
  if (byCodePoint(f)) {
    const edits = codePointEdits(f);
    const shown = edits.slice(0, 3).join('<br>');
    return edits.length > 3 ? `${shown}<br>… ${edits.length - 3} more` : shown;
  }
  // The whole word, not just the edited bytes: "2026.07.1 → 2026.07.1-r", not " → -r".
  const base = groups.find((g) => g.baseline);
  return groups
    .filter((g) => !g.baseline)
    .map((g) => `<code>${esc(visible(ellipsis(word(base), 80)))}</code><span class="arrow">→</span><code>${esc(visible(ellipsis(word(g), 80)))}</code>`)
    .join('<br>');
}


/**
 * One screen: a row per machine property (or combination) that changes the bytes. Covert changes
 * are spelled out (class, what, where, which values); what it changes in the open (echoes,
 * value changes, presence) is counted, each count linking to its findings below. Then whatever
 * was not compared.
 */
function verdict(f: Findings, lines: string[]): string {
  const rows = f.findings.filter((x) => x.class !== 'expected');
  const byFactors = new Map<string, Finding[]>();
  for (const x of rows) {
    const key = x.attribution.axes.join(' × ') || '(undetermined)';
    (byFactors.get(key) ?? byFactors.set(key, []).get(key)!).push(x);
  }
  const ref = (x: Finding) => `<a href="#${esc(x.id)}">F${f.findings.indexOf(x) + 1}</a>`;
  // Covert first: the properties that hide something lead the table.
  const order = [...byFactors].sort(([, a], [, b]) => rank(a[0]!.class) - rank(b[0]!.class));
  const body = order
    .map(([key, list]) => {
      const covert = list.filter((x) => CODE_POINT_CLASSES.has(x.class));
      const overt = list.filter((x) => !CODE_POINT_CLASSES.has(x.class));
      const covertHtml = covert
        .map((x) => `<div class="vrow">${clsBadge(x.class)} ${changeSummary(x)} <span class="meta">in <code>${esc(x.location.path)}</code> when ${esc(triggersText(x))}</span> ${ref(x)}</div>`)
        .join('');
      const counts = new Map<string, Finding[]>();
      for (const x of overt) (counts.get(x.class) ?? counts.set(x.class, []).get(x.class)!).push(x);
      const overtHtml = [...counts].map(([cls, xs]) => `${xs.length} ${esc(cls)} (${xs.map(ref).join(' ')})`).join(', ');
      return (
        `<tr><th><span class="axis">${esc(key)}</span>${list[0]!.attribution.interaction ? '<br><span class="meta">interaction</span>' : ''}</th>` +
        `<td>${covertHtml || '<span class="meta">nothing covert</span>'}</td><td class="meta">${overtHtml || '—'}</td></tr>`
      );
    })
    .join('');
  const skipped = (f.summary.factorsSkipped ?? []).map((x) => `${x.factor} was not compared: ${x.reason}`);
  const failed = f.summary.runsFailed.length ? [`${f.summary.runsFailed.length} runs failed: their cells are not compared`] : [];
  failed.push(...(f.summary.notCompared ?? []));
  const table = rows.length
    ? `<table class="verdict"><thead><tr><th>machine property</th><th>covert changes</th><th>what it changes in the open</th></tr></thead><tbody>${body}</tbody></table>`
    : '<p class="lede">No machine property changed the bytes this agent sent, in any cell compared.</p>';
  return `<section id="verdict"><h2>Verdict: what the agent's requests depend on</h2>${lines.map((l) => `<p class="meta">${esc(l)}</p>`).join('')}${table}${list('Not compared', [...skipped, ...failed])}</section>`;
}

/** The values of the attributing axes that give each non-baseline variant, as plain text. */
function triggersText(x: Finding): string {
  return x.attribution.groups
    .filter((g) => !g.baseline)
    .map((g) => condition(g, x.attribution.axes))
    .join('; or ');
}

/** One row per finding: what changed, what drives it, where. The first thing a researcher reads. */
function overview(f: Findings): string {
  if (f.findings.length === 0) return '<p>No findings: nothing in the captured requests follows the environment.</p>';
  const rows = f.findings.map(
    (x, i) =>
      `<tr><td><a href="#${esc(x.id)}">${label(i)}</a></td><td>${clsBadge(x.class)}</td>` +
      `<td class="chg">${changeSummary(x)}</td>` +
      `<td>${axisBadge(x)}<br><span class="meta">${esc(variantConditions(x))}</span></td>` +
      `<td><code>${esc(x.location.path)}</code><br><span class="meta">${esc(howMany(x.locations))}</span></td></tr>`,
  );
  return `<section><h2 id="overview">Findings, most suspicious first</h2><table class="overview"><thead><tr><th></th><th>class</th><th>what changed</th><th>driven by</th><th>where</th></tr></thead><tbody>${rows.join('')}</tbody></table></section>`;
}

/** Cells down, findings across: which variant each cell produced (A = the baseline). */
function matrix(f: Findings): string {
  if (f.findings.length === 0) return '';
  const axes = Object.keys(f.summary.axes);
  const head =
    `<tr><th>cell</th>${axes.map((a) => `<th>${esc(a)}</th>`).join('')}` +
    f.findings
      .map(
        (x, i) =>
          `<th class="f"><a href="#${esc(x.id)}" title="${esc(`${x.class}: ${x.location.path}`)}">${label(i)}</a>` +
          `<small>${esc(x.attribution.axes.join(' × ') || '?')}</small></th>`,
      )
      .join('') +
    '</tr>';
  const rows = f.summary.cells.map((cell) => {
    const cols = f.findings.map((x) => {
      const gi = x.attribution.groups.findIndex((g) => g.cells.includes(cell.id));
      if (gi < 0) return '<td class="v" title="not compared">·</td>';
      const g = x.attribution.groups[gi]!;
      const text = x.span === null ? (g.present ? 'present' : 'absent') : visible(g.text);
      return `<td class="v g${Math.min(gi, 3)}" title="${esc(text)}">${String.fromCharCode(65 + (gi % 26))}</td>`;
    });
    return `<tr><th>${esc(cell.id)}</th>${axes.map((a) => `<td>${esc(cell.values[a] ?? '')}</td>`).join('')}${cols.join('')}</tr>`;
  });
  return `<section><h2>Cells × findings</h2><table class="matrix"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>
<p class="legend">A = the baseline variant (most cells); B, C, … = the other variants. Hover a cell for its text.</p></section>`;
}

/** A code point that differs between groups: visible, named, and marked even when it has no glyph. */
function changedCp(ch: string, name: string): string {
  const cp = ch.codePointAt(0)!;
  const marker = isHidden(ch) ? `<span class="cp-marker">${hex(cp)}</span>` : '';
  return `<span class="cp-changed" title="${esc(`${hex(cp)} ${name}`.trim())}">${esc(ch)}${marker}</span>`;
}

const GAP = '<span class="cp-gap" title="the other variant has code points here that this one lacks"></span>';

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
    if (gaps.has(pos)) out += GAP;
    out += inside(pos) ? changedCp(ch, names.get(ch) ?? '') : esc(ch);
    i += ch.length;
  }
  if (gaps.has(offset + i)) out += GAP;
  return out;
}

function namesOf(changes: Change[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const c of changes) for (const cp of [...c.removed, ...c.added]) out.set(cp.char, cp.name);
  return out;
}

function spanBody(f: Finding, g: Group, ranges: Array<[number, number]>, names: Map<string, string>): string {
  if (f.span === null) return `<div class="span">${g.present ? `present: ${esc(g.text)}` : 'absent'}</div>`;
  const inner = byCodePoint(f)
    ? highlightSpan(g.text, g.offset, ranges, names)
    : g.text
      ? `<span class="val-changed" title="${esc(visible(g.text))}">${esc(g.text)}</span>`
      : GAP;
  return `<div class="span"><span class="ctx">${esc(g.context.before)}</span>${inner}<span class="ctx">${esc(g.context.after)}</span></div>`;
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
      return `<div class="side ${g.baseline ? 'baseline' : 'variant'}">
<div><strong>${esc(condition(g, axes))}</strong></div>
<div class="meta">cells ${esc(g.cells.join(', '))} · ${g.runs.length} runs${f.span ? ` · offset ${g.offset} (code point ${g.cpOffset})` : ''}</div>
${spanBody(f, g, ranges, names)}
</div>`;
    })
    .join('\n');
}

function changeTable(f: Finding): string {
  const rows = f.attribution.groups.flatMap((g) =>
    g.changes.map(
      (c) =>
        `<tr><td>${esc(condition(g, f.attribution.axes))}</td><td>${c.offsetBefore} → ${c.offsetAfter}</td>` +
        `<td>${c.removed.map(cpLabel).join('<br>') || '—'}</td>` +
        `<td>${c.added.map(cpLabel).join('<br>') || '—'}</td></tr>`,
    ),
  );
  if (rows.length === 0) return '';
  const table = `<table class="changes"><tr><th>group</th><th>offset (baseline → group)</th><th>removed</th><th>added</th></tr>${rows.join('')}</table>`;
  // For a changed value the letter-by-letter edit is detail, not the story.
  return byCodePoint(f) ? table : `<details><summary>Code points of the edit (${rows.length} change${rows.length === 1 ? '' : 's'})</summary>${table}</details>`;
}

/** True for a code point with no glyph of its own (an invisible, a control, an unusual space). */
function isHidden(ch: string): boolean {
  return /^[\p{C}\p{Z}\p{Default_Ignorable_Code_Point}]$/u.test(ch) && ch !== ' ';
}

/**
 * The span inside the full text. An empty span (the other variant inserts here) and a span of
 * invisible code points would both be a bare sliver of highlight: each gets a label of its own,
 * drawn by CSS (::after), so copying the text still copies exactly what was captured.
 */
function markedSpan(text: string, names: Map<string, string>): string {
  if (text === '') return '<mark class="here" title="the other variant has code points here that this one lacks"></mark>';
  let inner = '';
  for (const ch of text) {
    inner += isHidden(ch)
      ? `<span class="cp-hidden" data-cp="${hex(ch.codePointAt(0)!)}" title="${esc(`${hex(ch.codePointAt(0)!)} ${names.get(ch) ?? ''}`.trim())}">${esc(ch)}</span>`
      : esc(ch);
  }
  return `<mark>${inner}</mark>`;
}

function fullTexts(all: Findings, f: Finding): string {
  const names = namesOf(f.attribution.groups.flatMap((g) => g.changes));
  return f.attribution.groups
    .filter((g) => g.textRef && all.texts[g.textRef] !== undefined)
    .map((g) => {
      const text = all.texts[g.textRef!]!;
      const end = g.offset + g.text.length;
      const marked = `${esc(text.slice(0, g.offset))}${markedSpan(text.slice(g.offset, end), names)}${esc(text.slice(end))}`;
      return `<details><summary>Full captured ${esc(f.location.path)} — ${esc(condition(g, f.attribution.axes))} (${text.length} chars)</summary><pre class="full">${marked}</pre></details>`;
    })
    .join('\n');
}

function attributionNotes(f: Finding): string {
  const a = f.attribution;
  const notes: string[] = [];
  if (!a.determined) notes.push('not determined by the axes: even all of them together do not explain it');
  if (a.interaction) notes.push('interaction: only the combination of the axes determines it');
  if (a.confounded.length) notes.push(`confounded: ${a.confounded.map((x) => x.join(' + ')).join(' | ')} explain it equally well`);
  if (a.suggestedCells.length) {
    notes.push(`to separate them, add cells: ${a.suggestedCells.map((c) => Object.entries(c).map(([k, v]) => `${k}=${v}`).join(' ')).join('; ')}`);
  }
  if (f.echo) notes.push(`echoes the ${f.echo.axis} value ${f.echo.value}`);
  if (f.expected) notes.push(`expected by rule ${f.expected.path} ~ ${f.expected.axis}`);
  if (f.changeClass) notes.push(`the bytes alone: ${f.changeClass}`);
  return notes.length ? `<p class="meta">${notes.map(esc).join(' · ')}</p>` : '';
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
<h2>${label(i)} ${clsBadge(f.class)} <code>${esc(f.location.path)}</code> · driven by ${axisBadge(f)}</h2>
<p class="lede">When ${esc(variantConditions(f))}: ${changeSummary(f)}</p>
${attributionNotes(f)}
${whereList(f)}
<div class="sides">${sides(f)}</div>
${changeTable(f)}
${fullTexts(all, f)}
</section>`;
}
