import path from 'node:path';
import { parse, UsageError } from '../cli-support.js';
import { parseAllow, readAllowFile, scanPath } from '../scan/index.js';
import { renderScan } from '../scan/render.js';
import { terminalOptions } from './findings.js';
import { EXIT } from '../errors.js';

const HELP = `Usage: promptdiff scan DIR|FILE [--json] [--allow LIST] [--allow-file FILE]

Screens the captured exchanges of one run — a proxy --out directory, a run directory or one of its
runs/<id>/, or an exchanges .jsonl file — for characters that have no business in an English or
code prompt: bidi controls, invisible characters, look-alikes of ASCII inside ASCII words (TR39),
modifier letters used as punctuation (U+02BC for an apostrophe), letters of a second script inside
a word, unusual spaces. Judged per word, so your own Chinese or Russian text is not reported.
A screening, not proof: promptdiff run / audit show whether a character depends on the machine.

  --json              the report as JSON (docs/scan.md), on stdout
  --allow LIST        comma-separated entries declared legitimate: U+02BB, U+0400..U+04FF,
                      script:Cyrillic, kind:unusual-space, field:body.messages*, a word
  --allow-file FILE   the same, one entry per line (# comments)

Exit codes: 0 nothing suspicious, 1 something to look at, 2 input error.
`;

export async function cmdScan(args: string[]): Promise<number> {
  const { values, positionals } = parse('scan', args, {
    json: { type: 'boolean' },
    allow: { type: 'string', multiple: true },
    'allow-file': { type: 'string', multiple: true },
    help: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new UsageError('promptdiff scan: give one capture directory or .jsonl file (promptdiff scan --help)');
  const entries = (values.allow ?? []).flatMap((a) => a.split(','));
  for (const file of values['allow-file'] ?? []) entries.push(...(await readAllowFile(path.resolve(file))));
  const report = await scanPath(positionals[0]!, parseAllow(entries));
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : renderScan(report, terminalOptions()));
  return report.counts.total > 0 ? EXIT.findings : EXIT.noFindings;
}
