import type { Explain, ExplainedVariant, Probe } from '../explain/schema.js';
import { ellipsis, escapeCodePoints } from './escape.js';

/**
 * What `promptdiff explain` found, shown under its finding: in the terminal one line per variant
 * (its code points and the rule), in HTML an "explained" section with the rule, the minimal
 * values and the probe table. Presenters only: explain.json is read by the caller.
 */

function codePointsOf(v: ExplainedVariant): string {
  if (v.codePoints.length === 0) return JSON.stringify(v.text);
  const shown = v.codePoints.slice(0, 3).map((c) => `${c.cp} ${c.name}`);
  return `${shown.join(', ')}${v.codePoints.length > 3 ? `, +${v.codePoints.length - 3}` : ''}`;
}

const RULE_WIDTH = 240;

/** Lines to print under the finding's own line. */
export function explainedLines(e: Explain): string[] {
  return e.variants.map((v) => {
    const what = v.codePoints.length <= 3 ? codePointsOf(v) : `"${escapeCodePoints(ellipsis(v.text, 24))}"`;
    // Corpus lists can run long; explain.json and the HTML report have the whole rule.
    const rule = Array.from(v.rule).length > RULE_WIDTH ? `${Array.from(v.rule).slice(0, RULE_WIDTH - 1).join('')}…` : v.rule;
    return `    explained (${e.axis}): ${what} when ${rule} [${v.runs} runs]`;
  });
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Code points a reader could miss, spelled out (as in the rest of the report). */
function visible(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    out += cp >= 0x20 && cp < 0x7f ? ch : `⟨U+${cp.toString(16).toUpperCase().padStart(4, '0')}⟩`;
  }
  return out;
}

function outcome(p: Probe, target: string): string {
  if (p.status !== 'ok') return `<span class="probe-${esc(p.status)}">${esc(p.status)}${p.message ? `: ${esc(p.message)}` : ''}</span>`;
  const hit = p.variant === target;
  return `<span class="${hit ? 'probe-hit' : 'probe-miss'}">${esc(visible(p.variant ?? ''))}${hit ? ' ✓' : ''}</span>`;
}

function variantBlock(e: Explain, v: ExplainedVariant): string {
  const rows = v.probes
    .map((p) => `<tr><td><code>${esc(p.value)}</code></td><td>${outcome(p, v.text)}</td><td>${esc(p.stage)}</td><td>${esc(p.purpose ?? '')}</td></tr>`)
    .join('');
  return `<div class="explained-variant">
<h4><code>${esc(visible(v.text))}</code> ${esc(v.codePoints.map((c) => `${c.cp} ${c.name}`).join(', '))}</h4>
<p class="rule"><strong>Rule:</strong> ${esc(v.rule).replace(/`([^`]*)`/g, '<code>$1</code>')}</p>
<p>Minimal: ${v.minimal.map((m) => `<code>${esc(m)}</code>`).join(', ') || '—'} · ${v.runs} runs${v.from ? ` · from <code>${esc(v.from)}</code>` : ''}${v.witness ? ` in cell ${esc(v.witness.cell)}` : ''}</p>
${v.notes.length ? `<ul>${v.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
<details><summary>${v.probes.length} probes</summary>
<table class="probes"><thead><tr><th>${esc(e.axis)}</th><th>variant</th><th>stage</th><th>why</th></tr></thead><tbody>${rows}</tbody></table>
</details>
</div>`;
}

/** The "explained" section of a finding. */
export function explainedSection(e: Explain): string {
  return `<section class="explained" id="explained-${esc(e.finding)}">
<h3>Explained: ${esc(e.axis)}</h3>
<p class="meta">${e.runsTotal ?? 0} runs${e.status && e.status !== 'complete' ? ` · ${esc(e.status)}` : ''}${e.shape ? ` · values taken apart as ${esc(e.shape)}` : ''}</p>
${e.variants.map((v) => variantBlock(e, v)).join('\n')}
</section>`;
}

export const EXPLAINED_CSS = `
.explained{margin:.8em 0 1.6em;padding:.6em 1em;border-left:4px solid #2e7d32;background:#f6fbf6}
.explained .rule{font-size:1.05em}
table.probes td{font-family:ui-monospace,monospace;font-size:.9em}
.probe-hit{color:#1b5e20;font-weight:600}.probe-miss{color:#555}.probe-failed{color:#b00020;font-weight:600}.probe-skipped,.probe-absent{color:#777}
`;
