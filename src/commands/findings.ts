import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { diffRunDir, writeFindings, type Findings } from '../diff/index.js';
import { renderReport, renderTerminal, renderJson, renderHtml, readFindings, exitCodeFor, REPORT_FORMAT_NAMES } from '../report/index.js';
import { UsageError, parse, oneOf } from '../cli-support.js';
import { auditLines } from '../audit/summary.js';
import { readExplanations } from '../explain/store.js';
import { EXIT } from '../errors.js';

export const REPORT_FILE = 'report.html';

/** Diffs a run directory, writes findings.json and report.html beside the captures. */
export async function diffAndWrite(runDir: string): Promise<{ findings: Findings; findingsFile: string; htmlFile: string }> {
  const findings = await diffRunDir(runDir);
  const findingsFile = await writeFindings(runDir, findings);
  const htmlFile = await writeHtml(runDir, findings);
  return { findings, findingsFile, htmlFile };
}

/** report.html; an audit directory's opens with its verdict and how its runs were chosen. */
export async function writeHtml(runDir: string, findings: Findings): Promise<string> {
  const htmlFile = path.join(runDir, REPORT_FILE);
  const lines = await auditLines(runDir);
  const explanations = await readExplanations(runDir);
  await writeFile(htmlFile, renderHtml(findings, { ...(lines ? { verdict: { lines } } : {}), ...(explanations.size ? { explanations } : {}) }));
  return htmlFile;
}

export function useColor(): boolean {
  return Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
}

/** A terminal's width, to wrap long finding lines; none for a pipe or a file, which get one line per finding. */
export function terminalWidth(): number | undefined {
  return process.stdout.isTTY ? process.stdout.columns : undefined;
}

/** How findings are printed on stdout: colour and wrapping only for a terminal. */
export function terminalOptions(): { color: boolean; width: number | undefined } {
  return { color: useColor(), width: terminalWidth() };
}

export async function cmdDiff(args: string[]): Promise<number> {
  const { values, positionals } = parse('diff', args, { json: { type: 'boolean' }, quiet: { type: 'boolean' }, help: { type: 'boolean' } });
  if (values.help || positionals.length !== 1) {
    process.stdout.write('Usage: promptdiff diff RUN_DIR [--json] [--quiet]\n  writes RUN_DIR/findings.json and RUN_DIR/report.html; exit 0 no findings, 1 findings, 2 input error, 3 runs failed\n');
    if (values.help) return EXIT.ok;
    throw new UsageError('promptdiff diff: give exactly one run directory');
  }
  const runDir = path.resolve(positionals[0]!);
  const { findings, findingsFile, htmlFile } = await diffAndWrite(runDir);
  if (values.json) process.stdout.write(renderJson(findings));
  else if (!values.quiet) {
    const explanations = await readExplanations(runDir);
    process.stdout.write(renderTerminal(findings, { ...terminalOptions(), ...(explanations.size ? { explanations } : {}) }));
    process.stdout.write(`\nfindings: ${findingsFile}\nreport:   ${htmlFile}\n`);
  }
  return exitCodeFor(findings);
}

export async function cmdReport(args: string[]): Promise<number> {
  const { values, positionals } = parse('report', args, { format: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean' } });
  if (values.help || positionals.length !== 1) {
    process.stdout.write(`Usage: promptdiff report RUN_DIR|findings.json [--format ${REPORT_FORMAT_NAMES.join('|')}] [--out FILE]\n`);
    if (values.help) return EXIT.ok;
    throw new UsageError('promptdiff report: give exactly one run directory or findings.json');
  }
  const format = oneOf('format', values.format, REPORT_FORMAT_NAMES, 'terminal');
  const given = path.resolve(positionals[0]!);
  const findings = await readFindings(given);
  // Explanations live beside findings.json (RUN_DIR/explain/<id>/explain.json), when explain ran.
  const explanations = await readExplanations(given.endsWith('.json') ? path.dirname(given) : given);
  const text = renderReport(findings, format, { ...(values.out ? {} : terminalOptions()), ...(explanations.size ? { explanations } : {}) });
  if (values.out) {
    await writeFile(values.out, text);
    process.stderr.write(`wrote ${path.resolve(values.out)}\n`);
  } else process.stdout.write(text);
  return exitCodeFor(findings);
}
