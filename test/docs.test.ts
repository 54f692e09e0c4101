/**
 * The docs show what the tool prints. Every sample of output in README.md and docs/*.md sits
 * under a marker naming the command that printed it:
 *
 *     <!-- output of: promptdiff demo; lines: /^(invisible|demo: )/; head: 5 -->
 *     ```
 *     $ npx promptdiff demo
 *     …
 *     ```
 *
 * This test runs each command (in a scratch project directory, HOME in a scratch directory too),
 * keeps the lines the marker selects, wraps them as a 100-column terminal would, and compares
 * with the block. Paths of the scratch directories read as /home/you (see display()); counts that
 * change from run to run (noise spans masked) are compared as N. To regenerate the blocks after a change to the
 * output: PROMPTDIFF_UPDATE_DOCS=1 npx vitest run test/docs.test.ts
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fitToWidth } from '../src/report/fit.js';
import { writeScanCapture } from './fixtures/scan/capture.js';
import { ROOT, runCli } from './helpers/cli.js';

const DOCS = ['README.md', 'docs/user-guide.md', 'docs/scan.md'];
const COLUMNS = 100;
const UPDATE = process.env.PROMPTDIFF_UPDATE_DOCS === '1';

const MARKER = /<!-- output of: (.+?) -->\n```([^\n]*)\n([\s\S]*?)```/g;

interface Sample {
  file: string;
  command: string;
  lines: RegExp | null;
  head: number | null;
  /** The block as it stands in the file. */
  block: string;
  /** Where the block's text starts and ends in the file. */
  start: number;
  end: number;
}

function parseMarker(spec: string): Pick<Sample, 'command' | 'lines' | 'head'> {
  const [command, ...opts] = spec.split(/; (?=lines:|head:)/);
  let lines: RegExp | null = null;
  let head: number | null = null;
  for (const o of opts) {
    const lm = /^lines: \/(.*)\/$/.exec(o);
    const hm = /^head: (\d+)$/.exec(o);
    if (lm) lines = new RegExp(lm[1]!);
    else if (hm) head = Number(hm[1]);
    else throw new Error(`docs marker: cannot read "${o}" in "${spec}"`);
  }
  if (!command!.startsWith('promptdiff ')) throw new Error(`docs marker: "${spec}" does not name a promptdiff command`);
  return { command: command!, lines, head };
}

async function samplesOf(file: string): Promise<Sample[]> {
  const text = await readFile(path.join(ROOT, file), 'utf8').catch(() => '');
  return [...text.matchAll(MARKER)].map((m) => {
    const start = m.index! + m[0].indexOf('\n```') + 4 + m[2]!.length + 1;
    return { file, ...parseMarker(m[1]!), block: m[3]!, start, end: start + m[3]!.length };
  });
}

let work: string;
let home: string;
let project: string;
/** stdout of each command, as run once. */
const outputs = new Map<string, string>();

/**
 * Scratch paths as the docs show them; the checkout as a clone in the home directory; the CA
 * directory as a new user's (the per-user default: a checkout whose certs/ already holds a CA keeps
 * using that one, which is this test's only way to see a different path).
 */
function display(text: string): string {
  return text
    .split(path.join(ROOT, 'certs'))
    .join(path.join(home, '.local', 'share', 'promptdiff', 'certs'))
    .split(project)
    .join('/home/you/project')
    .split(home)
    .join('/home/you')
    .split(ROOT)
    .join('/home/you/promptdiff');
}

/** What differs from run to run without meaning anything. */
function volatile(text: string): string {
  return text.replace(/\b\d+ spans varied/g, 'N spans varied');
}

async function runCommand(command: string): Promise<string> {
  const args = command.split(' ').slice(1);
  const r = await runCli(args, { HOME: home, PROMPTDIFF_CERTS_DIR: '', XDG_DATA_HOME: '' }, 180_000, project);
  if (r.code !== 0 && r.code !== 1) throw new Error(`${command} exited ${r.code}:\n${r.stderr}`);
  return r.stdout;
}

function expectedBlock(s: Sample): string {
  let lines = display(outputs.get(s.command)!).trimEnd().split('\n');
  if (s.lines) lines = lines.filter((l) => s.lines!.test(l));
  if (s.head !== null) lines = lines.slice(0, s.head);
  return `$ npx ${s.command}\n${fitToWidth(lines.join('\n'), COLUMNS)}\n`;
}

let samples: Sample[];

beforeAll(async () => {
  work = path.join(tmpdir(), 'docs-test');
  home = path.join(work, 'home');
  project = path.join(work, 'project');
  await mkdir(home, { recursive: true });
  await mkdir(project, { recursive: true });
  samples = (await Promise.all(DOCS.map(samplesOf))).flat();
  // docs/scan.md scans a proxy capture with planted characters, as `promptdiff proxy --out captures` leaves it.
  await writeScanCapture(path.join(project, 'captures'));
  for (const c of new Set(samples.map((s) => s.command))) outputs.set(c, await runCommand(c));
}, 300_000);

describe('docs samples are what the tool prints', () => {
  it('every doc with samples has them marked, and the markers name commands that ran', () => {
    const files = new Set(samples.map((s) => s.file));
    expect([...files].sort()).toEqual(['README.md', 'docs/scan.md', 'docs/user-guide.md']);
    for (const s of samples) expect(outputs.get(s.command), s.command).toBeDefined();
  });

  it('each sample block equals the command’s output (paths of the scratch directories as /home/you)', async () => {
    if (UPDATE) {
      for (const file of DOCS) {
        let text = await readFile(path.join(ROOT, file), 'utf8');
        for (const s of samples.filter((x) => x.file === file).sort((a, b) => b.start - a.start)) {
          text = `${text.slice(0, s.start)}${expectedBlock(s)}${text.slice(s.end)}`;
        }
        await writeFile(path.join(ROOT, file), text);
      }
      return;
    }
    for (const s of samples) {
      expect(volatile(s.block), `${s.file}: output of ${s.command} (regenerate: PROMPTDIFF_UPDATE_DOCS=1 npx vitest run test/docs.test.ts)`).toBe(volatile(expectedBlock(s)));
    }
  });
});
