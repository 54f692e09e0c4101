import type { Findings } from '../diff/findings-schema.js';
import { renderHtml, type HtmlOptions } from './html.js';
import { renderJson } from './json.js';
import { renderTerminal, type TerminalOptions } from './terminal.js';

export { renderTerminal, renderFindingLine, type TerminalOptions } from './terminal.js';
export { renderJson, readFindings } from './json.js';
export { renderHtml } from './html.js';
export { EXIT, exitCodeFor, exitCodeForError } from './exit-code.js';
export { escapeCodePoints } from './escape.js';

export type ReportOptions = TerminalOptions & Pick<HtmlOptions, 'explanations'>;

/** Every report format: adding one is its presenter module and one entry here (`--format` lists these). */
export const REPORT_FORMATS = {
  terminal: (findings: Findings, options: ReportOptions) => renderTerminal(findings, options),
  json: (findings: Findings) => renderJson(findings),
  html: (findings: Findings, options: ReportOptions) => renderHtml(findings, options.explanations ? { explanations: options.explanations } : {}),
} satisfies Record<string, (findings: Findings, options: ReportOptions) => string>;

export type ReportFormat = keyof typeof REPORT_FORMATS;
export const REPORT_FORMAT_NAMES = Object.keys(REPORT_FORMATS) as ReportFormat[];

/** One entry point for the CLI: the format picks the presenter, the findings stay the same. */
export function renderReport(findings: Findings, format: ReportFormat, options: ReportOptions = {}): string {
  return REPORT_FORMATS[format](findings, options);
}
