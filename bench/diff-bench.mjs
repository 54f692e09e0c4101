// promptdiff differ benchmark: `node bench/diff-bench.mjs` after a build (`npx tsc -p tsconfig.build.json`).
//
// Synthesises a run directory of 1,000 exchanges of ~100 KB (10 cells × 10 repetitions × 10
// requests; realistic Anthropic Messages bodies: a ~90 KB system prompt, a growing conversation,
// tools, per-run uuids in the prompt, metadata and headers, and one planted zero-width space that
// follows TZ), then diffs and attributes it with `diffRunDir` in a child process and reports wall
// time and peak RSS against the issue's targets (≤ 10 s, ≤ 1 GB), PASS/MISS each.
//
// Baseline in the same run: GNU `diff` (line-based, as a user would run it) over the same request
// bodies, each run's request i against the first run's request i (990 pairs), one `diff` process
// per pair, bodies pretty-printed (JSON.stringify(body, null, 2)) so that diff has lines to work on.
// The ratio printed is differ wall time / baseline wall time.
//
// `node bench/diff-bench.mjs --child RUN_DIR` diffs an existing run directory alone (e.g. under
// `node --cpu-prof`) and prints the measurements as JSON.
//
// Environment knobs (all optional): BENCH_CELLS=10 BENCH_REPS=10 BENCH_REQUESTS=10 BENCH_KB=100
//   BENCH_KEEP=1 keeps the run directory and prints its path.
//   BENCH_SHIFT=1: cells with LANG=zh_CN send one tool and one message more, first in their arrays
//   (as Claude Code does for a first-party base URL), so every aligned request needs its array
//   elements aligned; the differ must then also report those two, as presence by LANG, and nothing else.
import { execFile, fork } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const DIST_DIFF = pathToFileURL(path.join(here, '..', 'dist', 'diff', 'index.js')).href;

const CELLS = Number(process.env.BENCH_CELLS ?? 10);
const REPS = Number(process.env.BENCH_REPS ?? 10);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 10);
const BODY_KB = Number(process.env.BENCH_KB ?? 100);
const SHIFT = process.env.BENCH_SHIFT === '1';
const TARGET_MS = 10_000;
const TARGET_BYTES = 1024 ** 3;

// ---------------------------------------------------------------- child: the measured diff
if (process.argv[2] === '--child') {
  const runDir = process.argv[3];
  const { diffRunDir } = await import(DIST_DIFF);
  const t0 = performance.now();
  const findings = await diffRunDir(runDir);
  const ms = performance.now() - t0;
  const usage = process.resourceUsage();
  const report = process.send ? (m) => process.send(m) : (m) => console.log(JSON.stringify(m, null, 2));
  report({
    ms,
    /** CPU time of the whole child (user + system), less sensitive than wall time to other load on the machine. */
    cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000,
    maxRssBytes: usage.maxRSS * 1024,
    findings: findings.findings.map((f) => ({
      class: f.class,
      axes: f.attribution.axes,
      path: f.location.path,
      locations: f.locations.length,
      added: f.attribution.groups.flatMap((g) => g.changes.flatMap((c) => c.added.map((x) => x.cp))),
    })),
    summary: {
      exchanges: findings.summary.exchanges,
      alignedRequests: findings.summary.alignedRequests,
      fieldsCompared: findings.summary.fieldsCompared,
      maskedSpans: findings.summary.noise.maskedSpans,
    },
  });
  process.exit(0);
}

// ---------------------------------------------------------------- parent: synthesise, measure, report
/** Deterministic pseudo-random text that reads like an agent's system prompt (sections, rules, tool docs). */
function systemPrompt(bytes, seed) {
  const words = (
    'the agent must always read a file before editing it and never guess its contents run the tests after each ' +
    'change prefer small commits explain what you changed and why use the tools provided to inspect the workspace ' +
    'do not print secrets respect the user style guide keep answers concise when a command fails read the error ' +
    'message carefully and fix the root cause instead of retrying blindly'
  ).split(' ');
  let h = createHash('sha256').update(String(seed)).digest();
  let i = 0;
  const next = () => {
    if (i + 2 > h.length) {
      h = createHash('sha256').update(h).digest();
      i = 0;
    }
    const v = h.readUInt16BE(i);
    i += 2;
    return v;
  };
  const parts = [];
  let size = 0;
  let section = 1;
  while (size < bytes) {
    const heading = `\n# Section ${section++}: ${words[next() % words.length]} ${words[next() % words.length]}\n`;
    parts.push(heading);
    size += heading.length;
    for (let rule = 0; rule < 8 && size < bytes; rule++) {
      const n = 12 + (next() % 20);
      const sentence = `- ${Array.from({ length: n }, () => words[next() % words.length]).join(' ')}.\n`;
      parts.push(sentence);
      size += sentence.length;
    }
  }
  return parts.join('').slice(0, bytes);
}

const TZS = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Shanghai', 'Asia/Tokyo'];
const LANGS = ['en_US.UTF-8', 'zh_CN.UTF-8'];

function cellsOf(n) {
  const all = TZS.flatMap((TZ) => LANGS.map((LANG) => ({ TZ, LANG })));
  return all.slice(0, n).map((values, i) => ({ id: `c${String(i + 1).padStart(3, '0')}`, values }));
}

function makeRecord(runId, seq, cell, session, base) {
  // The planted channel: a ZWSP after "tools" when TZ is Asia/Shanghai. Everything else that
  // differs between runs is noise (session uuid, request id, a temp path).
  const zwsp = cell.values.TZ === 'Asia/Shanghai';
  const system =
    base.head +
    `Use the tools${zwsp ? '\u200B' : ''} provided to inspect the workspace.\n` +
    `<env>\nWorking directory: /tmp/work-${session.slice(0, 8)}\nSession: ${session}\n</env>\n` +
    base.tail;
  const messages = [];
  for (let t = 0; t < seq * 2 - 1; t++) {
    messages.push({
      role: t % 2 ? 'assistant' : 'user',
      content: [{ type: 'text', text: t % 2 ? `I read the file; step ${t} done.` : `Please continue with step ${t}.` }],
    });
  }
  const shifted = SHIFT && cell.values.LANG === 'zh_CN.UTF-8';
  const body = JSON.stringify({
    model: 'claude-sonnet-4-5',
    max_tokens: 4096,
    system: [{ type: 'text', text: system, cache_control: { type: 'ephemeral' } }],
    messages: shifted ? [{ role: 'user', content: '<available-deferred-tools>\nWebFetch\n</available-deferred-tools>' }, ...messages] : messages,
    tools: shifted ? [{ name: 'ToolSearch', description: 'Loads deferred tools.', input_schema: { type: 'object' } }, ...base.tools] : base.tools,
    metadata: { user_id: `user_${session}` },
    stream: true,
  });
  const headers = [
    ['host', 'api.anthropic.com'],
    ['content-type', 'application/json'],
    ['user-agent', 'canary/1.0'],
    ['anthropic-version', '2023-06-01'],
    ['x-request-id', randomUUID()],
    ['content-length', String(Buffer.byteLength(body))],
  ];
  // A capture record as promptdiff writes it (src/capture/schema.ts, version 2: the body's bytes as base64).
  return {
    v: 2,
    id: `${seq}-${runId}`,
    seq,
    run: runId,
    startedAt: '2026-07-01T00:00:00.000Z',
    completedAt: '2026-07-01T00:00:01.000Z',
    route: 'reverse',
    client: { address: '127.0.0.1', port: 50000 + seq },
    tunnel: null,
    request: {
      method: 'POST',
      url: 'http://127.0.0.1:8080/v1/messages',
      host: '127.0.0.1:8080',
      path: '/v1/messages',
      httpVersion: '1.1',
      headers,
      body: { base64: Buffer.from(body, 'utf8').toString('base64'), wireSize: Buffer.byteLength(body), size: Buffer.byteLength(body) },
    },
    redacted: [],
    response: null,
    errors: [],
  };
}

async function synthesise(dir) {
  const toolsDoc = systemPrompt(4 * 1024, 'tools');
  const tools = Array.from({ length: 8 }, (_, i) => ({
    name: `tool_${i}`,
    description: toolsDoc.slice(i * 500, i * 500 + 500),
    input_schema: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
  }));
  const promptBytes = Math.max(1024, BODY_KB * 1024 - 8 * 1024);
  const whole = systemPrompt(promptBytes, 'system');
  const cut = Math.floor(whole.length * 0.4);
  const base = { head: whole.slice(0, cut), tail: whole.slice(cut), tools };
  const cells = cellsOf(CELLS);
  const runs = [];
  /** firstRun[i] = body of request i in the first run; pairs for the baseline. */
  const bodiesDir = path.join(dir, 'baseline-bodies');
  await mkdir(bodiesDir, { recursive: true });
  let bytes = 0;
  let count = 0;
  for (const cell of cells) {
    for (let rep = 1; rep <= REPS; rep++) {
      const id = `${cell.id}-r${rep}`;
      const session = randomUUID();
      const lines = [];
      for (let seq = 1; seq <= REQUESTS; seq++) {
        const rec = makeRecord(id, seq, cell, session, base);
        bytes += rec.request.body.size;
        count++;
        lines.push(JSON.stringify(rec));
        await writeFile(path.join(bodiesDir, `${id}-${seq}.json`), `${JSON.stringify(JSON.parse(Buffer.from(rec.request.body.base64, 'base64').toString('utf8')), null, 2)}\n`);
      }
      await mkdir(path.join(dir, 'runs', id), { recursive: true });
      await writeFile(path.join(dir, 'runs', id, 'exchanges.jsonl'), lines.map((l) => `${l}\n`).join(''));
      runs.push({
        id,
        cell: cell.id,
        rep,
        env: { ...cell.values },
        startedAt: null,
        endedAt: null,
        durationMs: null,
        exitCode: 0,
        signal: null,
        status: 'ok',
        exchanges: REQUESTS,
      });
    }
  }
  const axes = {};
  for (const c of cells) for (const [k, v] of Object.entries(c.values)) (axes[k] ??= []).includes(v) || axes[k].push(v);
  const manifest = {
    v: 1,
    tool: { name: 'promptdiff', version: '0.1.0' },
    createdAt: '2026-07-01T00:00:00.000Z',
    scenarioFile: null,
    scenario: {},
    agent: { command: ['node', 'agent.mjs'], preset: null, version: null },
    axes,
    cells,
    runs,
    expect: [],
  };
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  return { bytes, count, runs: runs.map((r) => r.id), bodiesDir };
}

function runChild(runDir) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = fork(fileURLToPath(import.meta.url), ['--child', runDir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result = null;
    child.on('message', (m) => (result = m));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0 || !result) reject(new Error(`diff child exited ${code}`));
      else resolve({ ...result, childMs: performance.now() - t0 });
    });
  });
}

/**
 * GNU diff over each pair (each run's request i against the first run's), sequential, driven by
 * one shell loop so that the baseline pays for diff's own fork/exec, not for Node's child_process.
 */
async function gnuDiffBaseline(bodiesDir, runIds) {
  const [first, ...rest] = runIds;
  const list = [];
  for (const run of rest) for (let seq = 1; seq <= REQUESTS; seq++) list.push(`${first}-${seq}.json ${run}-${seq}.json`);
  await writeFile(path.join(bodiesDir, 'pairs.txt'), `${list.join('\n')}\n`);
  const script = 'n=0; while read a b; do diff "$a" "$b" >/dev/null; [ $? -eq 1 ] && n=$((n+1)); done < pairs.txt; echo $n';
  const t0 = performance.now();
  const { stdout } = await promisify(execFile)('sh', ['-c', script], { cwd: bodiesDir });
  return { ms: performance.now() - t0, pairs: list.length, differing: Number(stdout.trim()) };
}

const fmtMs = (ms) => `${(ms / 1000).toFixed(2)} s`;
const fmtMB = (b) => `${(b / 1024 / 1024).toFixed(0)} MB`;

const dir = await mkdtemp(path.join(tmpdir(), 'promptdiff-diff-bench-'));
try {
  const t0 = performance.now();
  const data = await synthesise(dir);
  const synthMs = performance.now() - t0;
  console.log(
    `promptdiff diff bench: ${data.count} exchanges (${CELLS} cells × ${REPS} reps × ${REQUESTS} requests), ` +
      `mean body ${(data.bytes / data.count / 1024).toFixed(1)} KB, ${fmtMB(data.bytes)} of bodies; synthesised in ${fmtMs(synthMs)}`,
  );

  const diff = await runChild(dir);
  const base = await gnuDiffBaseline(data.bodiesDir, data.runs);

  const planted = diff.findings.filter((f) => f.class === 'invisible' && f.axes.join() === 'TZ' && f.added.includes('U+200B'));
  // BENCH_SHIFT: the extra tool and the extra message, each one presence change by LANG.
  const layout = SHIFT ? diff.findings.filter((f) => f.class === 'field-presence' && f.axes.join() === 'LANG') : [];
  const others = diff.findings.filter((f) => !planted.includes(f) && !layout.includes(f));
  console.log(
    `differ: ${diff.findings.length} finding(s): ${diff.findings.map((f) => `${f.class} ${f.path} by ${f.axes.join('×') || '?'} in ${f.locations} requests`).join('; ') || 'none'}` +
      ` · ${diff.summary.alignedRequests} aligned requests · ${diff.summary.fieldsCompared} fields · ${diff.summary.maskedSpans} noise spans masked`,
  );
  const rows = [
    ['diffRunDir (load + align + noise + attribute + classify)', fmtMs(diff.ms), `≤ ${fmtMs(TARGET_MS)}`, diff.ms <= TARGET_MS ? 'PASS' : 'MISS'],
    ['peak RSS of the diff process (maxRSS)', fmtMB(diff.maxRssBytes), `≤ ${fmtMB(TARGET_BYTES)}`, diff.maxRssBytes <= TARGET_BYTES ? 'PASS' : 'MISS'],
    SHIFT
      ? ['planted ZWSP by TZ, the 2 extra elements by LANG, nothing else', `${planted.length} + ${layout.length} + ${others.length} other`, '1 + 2 + 0', planted.length === 1 && layout.length === 2 && others.length === 0 ? 'PASS' : 'MISS']
      : ['planted ZWSP found, attributed to TZ, nothing else', `${planted.length} + ${others.length} other`, '1 + 0', planted.length === 1 && others.length === 0 ? 'PASS' : 'MISS'],
  ];
  const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log(`  ${r.map((c, i) => c.padEnd(w[i])).join('  ')}`);
  console.log(
    `  (diff child: ${fmtMs(diff.childMs)} wall incl. Node start and import, ${fmtMs(diff.cpuMs)} CPU user+system; ` +
      `load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${availableParallelism()} cores — wall times stretch under other load)`,
  );
  console.log(
    `baseline: GNU diff over the same bodies pretty-printed, ${base.pairs} pairs against the first run, one diff process per pair from a shell loop: ` +
      `${fmtMs(base.ms)} (${base.differing} pairs differ) → differ / baseline = ${(diff.ms / base.ms).toFixed(2)}×`,
  );
  if (process.env.BENCH_KEEP) console.log(`run directory kept: ${dir}`);
  process.exitCode = rows.every((r) => r[3] === 'PASS') ? 0 : 1;
} finally {
  if (!process.env.BENCH_KEEP) await rm(dir, { recursive: true, force: true });
}
