/**
 * The HTML report in a real browser: Debian's headless Chromium driven by playwright-core. Checks
 * what a researcher relies on — the changed code points are highlighted and named, the matrix has
 * a row per cell, the full prompt opens with a click — and that the page never touches the network.
 * Leaves a screenshot in test-output/html-report.png.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffRunDir, type Findings } from '../src/diff/index.js';
import { renderHtml } from '../src/report/html.js';
import { makeRunDir, removeRunDirs } from './fixtures/diff/make-run.js';
import { ROOT } from './helpers/cli.js';

const CHROMIUM = process.env.PROMPTDIFF_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOT = path.join(ROOT, 'test-output', 'html-report.png');

const TZS = ['Europe/Berlin', 'Asia/Shanghai', 'America/New_York'];
const BASES = ['https://api.example.com', 'https://llm-gateway.example.cn'];

/** A small run: six cells × two repetitions, two requests each, three planted changes, uuid noise and a Host echo. */
async function fixtureRun(): Promise<{ dir: string; findings: Findings }> {
  const dir = await makeRunDir({
    axes: { TZ: TZS, ANTHROPIC_BASE_URL: BASES },
    reps: 2,
    exchanges: (cell) => {
      const tz = cell.values.TZ!;
      const host = new URL(cell.values.ANTHROPIC_BASE_URL!).host;
      const session = randomUUID();
      const system = [
        'You are Canary, an interactive coding agent that helps users with software engineering tasks.',
        `${host.endsWith('.cn') ? 'Don\u2019t' : "Don't"} guess what a file contains; read it first. ` +
          `Use the tools${tz === 'Asia/Shanghai' ? '\u200B' : ''} provided to inspect the workspace.`,
        `<env>\nWorking directory: /sandbox/work\nToday's date: ${tz === 'Asia/Shanghai' ? '2026/07/01' : '2026-07-01'}\nSession: ${session}\n</env>`,
      ];
      const headers = (): Array<[string, string]> => [
        ['host', host],
        ['content-type', 'application/json'],
        ['x-request-id', randomUUID()],
      ];
      return [
        { system, headers: headers(), user: 'Say hi.' },
        { system, headers: headers(), user: 'List the files.' },
      ];
    },
  });
  return { dir, findings: await diffRunDir(dir) };
}

let browser: Browser | undefined;
let page: Page;
let findings: Findings;
let outDir: string;
/** Every URL the page asked for that is not the report file itself. */
const offPage: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: the HTML report is tested in a real headless browser. ` +
        'Install it with `sudo apt-get install chromium` (or run scripts/test-prereqs.sh as root), ' +
        'or point PROMPTDIFF_CHROMIUM at a Chromium binary.',
    );
  }
  const run = await fixtureRun();
  findings = run.findings;
  outDir = await mkdtemp(path.join(tmpdir(), 'promptdiff-html-'));
  const file = path.join(outDir, 'report.html');
  await writeFile(file, renderHtml(findings));

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const reportUrl = pathToFileURL(file).href;
  await context.route('**', (route) => {
    const url = route.request().url();
    if (url === reportUrl) return route.continue();
    offPage.push(url);
    return route.abort();
  });
  context.on('request', (req) => {
    if (req.url() !== reportUrl && !offPage.includes(req.url())) offPage.push(req.url());
  });
  page = await context.newPage();
  await page.goto(reportUrl, { waitUntil: 'load' });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  if (outDir) await rm(outDir, { recursive: true, force: true });
  await removeRunDirs();
});

describe('HTML report in headless Chromium', () => {
  it('reports the fixture’s planted changes', () => {
    expect(findings.findings.map((f) => `${f.class} ${f.attribution.axes.join()}`)).toEqual([
      'invisible TZ',
      'confusable ANTHROPIC_BASE_URL',
      'format-change TZ',
      'echo ANTHROPIC_BASE_URL',
    ]);
  });

  it('renders the changed code points visibly highlighted, each named in its title', async () => {
    const marks = page.locator('.cp-changed');
    const n = await marks.count();
    expect(n).toBeGreaterThan(0);
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const mark = marks.nth(i);
      await mark.scrollIntoViewIfNeeded();
      await expect.poll(() => mark.isVisible()).toBe(true);
      const { background, width, height, title } = await mark.evaluate((el) => {
        const r = el.getBoundingClientRect();
        return { background: el.ownerDocument.defaultView!.getComputedStyle(el).backgroundColor, width: r.width, height: r.height, title: el.getAttribute('title') ?? '' };
      });
      expect(background).not.toMatch(/^(transparent|rgba\(0, 0, 0, 0\))$/);
      // A zero-width character still gets a box a reader can see and hover.
      expect(width).toBeGreaterThan(2);
      expect(height).toBeGreaterThan(2);
      expect(title).toMatch(/^U\+[0-9A-F]{4,6} [A-Z<]/);
      seen.add(title);
    }
    expect(seen).toContain('U+200B ZERO WIDTH SPACE');
    expect(seen).toContain('U+2019 RIGHT SINGLE QUOTATION MARK');
    expect(seen).toContain('U+0027 APOSTROPHE');
    expect(seen).toContain('U+002F SOLIDUS');
    // The invisible one also carries a visible marker with its code point.
    const zwsp = page.locator('.cp-changed[title="U+200B ZERO WIDTH SPACE"]').first();
    await expect.poll(() => zwsp.innerText()).toContain('U+200B');
  });

  it('shows one matrix row per cell, with the axis values and a variant per finding', async () => {
    const rows = page.locator('table.matrix tbody tr');
    await expect.poll(() => rows.count()).toBe(findings.summary.cells.length);
    const ids = await page.locator('table.matrix tbody tr > th').allInnerTexts();
    expect(ids.map((t) => t.trim())).toEqual(findings.summary.cells.map((c) => c.id));
    const firstRow = await rows.first().locator('td.v').count();
    expect(firstRow).toBe(findings.findings.length);
  });

  it('opens the full captured prompt with one click', async () => {
    const details = page.locator('details').first();
    const pre = details.locator('pre.full');
    expect(await pre.isVisible()).toBe(false);
    await details.locator('summary').click();
    await expect.poll(() => pre.isVisible()).toBe(true);
    // The first finding is the ZWSP: its field is the second system block, shown whole.
    expect(await pre.innerText()).toContain('guess what a file contains; read it first. Use the tools');
    // The date's field is the <env> block, noise and all.
    const env = page.locator('details', { hasText: 'body.system[2].text' }).first();
    await env.locator('summary').click();
    await expect.poll(() => env.locator('pre.full').innerText()).toMatch(/Session: [0-9a-f-]{36}/);
  });

  it('labels, in the full captured text, an inserted invisible character and the empty spot opposite it', async () => {
    const inv = findings.findings.find((f) => f.class === 'invisible')!;
    // Evaluated in the page (this file is compiled without the DOM library).
    const labels = (await page.evaluate(`(() => {
      const el = document.getElementById(${JSON.stringify(inv.id)});
      const after = (sel) => [...el.querySelectorAll(sel)].map((x) => getComputedStyle(x, '::after').content);
      return { hidden: after('pre.full .cp-hidden'), here: after('pre.full mark.here') };
    })()`)) as { hidden: string[]; here: string[] };
    expect(labels.hidden).toEqual(['"U+200B"']);
    expect(labels.here).toEqual(['"nothing here"']);
  });

  it('makes no network request and leaves a screenshot', async () => {
    expect(offPage).toEqual([]);
    await mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);
  });
});
