import type { Findings } from '../diff/findings-schema.js';
import { renderHtml, type HtmlOptions } from './html.js';
import { renderJson } from './json.js';
import { renderTerminal, type TerminalOptions } from './terminal.js';

export { renderTerminal, renderFindingLine, type TerminalOptions } from './terminal.js';
export { renderJson, readFindings } from './json.js';
export { renderHtml } from './html.js';
export { EXIT, exitCodeFor, exitCodeForError } from './exit-code.js';
export { escapeCodePoints } from './escape.js';

export type ReportFormat = 'terminal' | 'json' | 'html';

/** One entry point for the CLI: the format picks the presenter, the findings stay the same. */
export function renderReport(findings: Findings, format: ReportFormat, options: TerminalOptions & Pick<HtmlOptions, 'explanations'> = {}): string {
  switch (format) {
    case 'terminal':
      return renderTerminal(findings, options);
    case 'json':
      return renderJson(findings);
    case 'html':
      return renderHtml(findings, options.explanations ? { explanations: options.explanations } : {});
  }
}
