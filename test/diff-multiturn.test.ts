import { afterAll, describe, expect, it } from 'vitest';
import { diffRunDir } from '../src/diff/index.js';
import type { ExchangeSpec } from './fixtures/diff/make-run.js';
import { makeRunDir, removeRunDirs } from './fixtures/diff/make-run.js';

afterAll(removeRunDirs);

/*
 * Runs of a scripted stub conversation: each run sends one request per turn, each carrying the
 * whole conversation so far, and every tool result holds per-run noise (a timestamp, a wall time,
 * the tool-use ids). The differ must pair turn k with turn k in every run, mask that noise with
 * the repetitions, and still find a byte that one axis puts into one tool-result wrapper.
 */

const ZWSP = '\u200b';
const OUTPUTS = ['42-probe', '# demo workspace\n\nA tiny project.', 'README.md\nindex.js', 'hello\nworld', 'done'];
const TZS = ['UTC', 'Asia/Shanghai', 'America/New_York'];

interface Turns {
  turns: number;
  /** A wrapper that differs along TZ, in this tool result only (0-based). */
  plantIn?: number;
  tz: string;
  /** Requests sent in another order than the turns (a retry that came in late). */
  order?: number[];
  /** The per-run values a tool result carries; random by default. */
  stamp?: () => { at: string; wall: string; pgid?: string };
}

/**
 * The runs' noise, seeded so that a failure reproduces: with two repetitions, noise that happens to
 * agree within each cell and differ between cells is a channel by any test (a random 1970–2001
 * timestamp can: both repetitions of one cell in 2000–2001, the other cell's in the 1900s). Drawn
 * afresh on every run, it failed one full run of the suite with a by-TZ value change no plant made.
 */
let seed = 0x2026_1201;
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const hex = (n: number) => Array.from({ length: n }, () => Math.floor(random() * 16).toString(16)).join('');

/** A timestamp and a wall time that change on every run (and with them the result's length). */
function noise(): { at: string; wall: string; pgid?: string } {
  const ms = Math.floor(random() * 1e12);
  return { at: new Date(ms).toISOString(), wall: (random() * 20).toFixed(Math.floor(random() * 3) + 1) };
}

function wrapper(k: number, output: string, t: Turns): string {
  const { at, wall, pgid = '-' } = (t.stamp ?? noise)();
  const planted = t.plantIn === k && t.tz.startsWith('Asia/') ? ZWSP : '';
  return `<tool-output${planted} ran-at="${at}">\nWall time ${wall} seconds\n${output}\nProcess Group PGID: ${pgid}\n</tool-output>`;
}

/** One run: request k holds the task, then k tool_use / tool_result pairs. */
function conversation(t: Turns): ExchangeSpec[] {
  const session = `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`;
  const history: unknown[] = [{ role: 'user', content: [{ type: 'text', text: `Run the probe. <session ${session}>` }] }];
  const requests: ExchangeSpec[] = [];
  for (let k = 0; k < t.turns; k++) {
    requests.push({
      body: {
        model: 'claude-sonnet-4-5',
        max_tokens: 1024,
        system: [{ type: 'text', text: 'You are a coding agent with tools.' }],
        messages: structuredClone(history),
        tools: [{ name: 'Bash', input_schema: { type: 'object' } }, { name: 'Read', input_schema: { type: 'object' } }],
        metadata: { user_id: `session_${session}` },
        stream: true,
      },
    });
    const id = `toolu_stub_${hex(24)}`;
    history.push({ role: 'assistant', content: [{ type: 'tool_use', id, name: 'Bash', input: { command: `step ${k}` } }] });
    history.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: wrapper(k, OUTPUTS[k]!, t) }] });
  }
  return t.order ? t.order.map((i) => requests[i]!) : requests;
}

describe('differ: multi-turn runs of a stub script', () => {
  it.each([3, 4, 5])('%i turns with noisy tool results and no channel: every turn aligned, nothing found', async (turns) => {
    const dir = await makeRunDir({ axes: { TZ: TZS }, reps: 2, exchanges: (cell) => conversation({ turns, tz: cell.values.TZ! }) });
    const f = await diffRunDir(dir);
    expect(f.findings.map((x) => `${x.class} ${x.location.exchange} ${x.location.path}`)).toEqual([]);
    expect(f.summary.alignedRequests).toBe(turns);
    expect(f.summary.noise.maskedSpans).toBeGreaterThan(0);
  });

  it('a zero-width space in the second tool result\'s wrapper, in Asian zones only, is found there and nowhere else', async () => {
    const turns = 5;
    const dir = await makeRunDir({ axes: { TZ: TZS }, reps: 2, exchanges: (cell) => conversation({ turns, plantIn: 1, tz: cell.values.TZ! }) });
    const f = await diffRunDir(dir);
    expect(f.summary.alignedRequests).toBe(turns);
    expect(f.findings).toHaveLength(1);
    const [finding] = f.findings;
    expect(finding!.class).toBe('invisible');
    expect(finding!.attribution.axes).toEqual(['TZ']);
    expect(finding!.attribution.determined).toBe(true);
    // The second tool result is messages[4]; the conversation carries it from the third request on.
    expect(finding!.locations.map((l) => [l.ordinal, l.path])).toEqual([3, 4, 5].map((o) => [o, 'body.messages[4].content[0].content']));
    const changed = finding!.attribution.groups.find((g) => !g.baseline)!;
    expect(changed.values.TZ).toEqual(['Asia/Shanghai']);
    expect(changed.changes.flatMap((c) => c.added.map((a) => a.cp))).toEqual(['U+200B']);
  });

  it('turns that arrive out of order in one run still meet their counterparts', async () => {
    const dir = await makeRunDir({
      axes: { TZ: TZS },
      reps: 2,
      exchanges: (cell, rep) => conversation({ turns: 4, plantIn: 2, tz: cell.values.TZ!, ...(cell.id === 'c002' && rep === 2 ? { order: [0, 2, 1, 3] } : {}) }),
    });
    const f = await diffRunDir(dir);
    expect(f.summary.alignedRequests).toBe(4);
    expect(f.findings.map((x) => [x.class, x.attribution.axes, x.locations.map((l) => l.ordinal)])).toEqual([['invisible', ['TZ'], [4]]]);
  });

  it('timestamps and process ids from the wall clock: runs of a cell ran together, so some digits agree within each cell and differ across cells', async () => {
    // What a real run directory looks like: the two runs of a cell start together (jobs: 2), the
    // next cell a second later; each tool result carries the time it ran and the shell's PGID.
    const t0 = Date.parse('2026-07-01T12:00:08.000Z');
    const order = new Map(TZS.map((tz, i) => [tz, i]));
    const dir = await makeRunDir({
      axes: { TZ: TZS },
      reps: 2,
      exchanges: (cell, rep) => {
        const i = order.get(cell.values.TZ!)!;
        let k = 0;
        return conversation({
          turns: 4,
          tz: cell.values.TZ!,
          stamp: () => {
            k += 1;
            const at = new Date(t0 + i * 1000 + k * 150 + rep * 37).toISOString();
            return { at, wall: `0.${rep}`, pgid: String(14_400 + i * 100 + k * 4 + rep) };
          },
        });
      },
    });
    const f = await diffRunDir(dir);
    expect(f.findings.map((x) => `${x.class} ${x.location.exchange} ${x.location.path}`)).toEqual([]);
    expect(f.summary.alignedRequests).toBe(4);
  });

  it('beside such a number, what is not a digit still stands; and digits an axis sets away from noise are found', async () => {
    const t0 = Date.parse('2026-07-01T12:00:08.000Z');
    const order = new Map(TZS.map((tz, i) => [tz, i]));
    const dir = await makeRunDir({
      axes: { TZ: TZS },
      reps: 2,
      exchanges: (cell, rep) => {
        const i = order.get(cell.values.TZ!)!;
        const asia = cell.values.TZ!.startsWith('Asia/');
        let k = 0;
        return conversation({
          turns: 3,
          tz: cell.values.TZ!,
          stamp: () => {
            k += 1;
            // A zero-width space glued to the timestamp, and a retry count that follows the zone.
            const at = `${new Date(t0 + i * 1000 + k * 150 + rep * 37).toISOString()}${asia && k === 1 ? ZWSP : ''}`;
            return { at, wall: `0.${rep}`, pgid: `${14_400 + i * 100 + k * 4 + rep} retries=${asia ? 3 : 2}` };
          },
        });
      },
    });
    const f = await diffRunDir(dir);
    const found = f.findings.map((x) => `${x.class} ${x.location.path} ${x.attribution.axes.join()} ${x.locations.map((l) => l.ordinal).join(',')}`);
    expect(found.sort()).toEqual([
      'invisible body.messages[2].content[0].content TZ 2,3',
      // One finding: the same edit in the second tool result too (messages[4] of request 3).
      'value-change body.messages[2].content[0].content TZ 2,3,3',
    ]);
  });

  it('runs that stop after two turns in one zone: the missing turns are one presence finding, by TZ', async () => {
    const dir = await makeRunDir({
      axes: { TZ: TZS },
      reps: 2,
      // Every Asian run stops early: that the later turns are missing follows TZ.
      exchanges: (cell) => conversation({ turns: cell.values.TZ!.startsWith('Asia/') ? 2 : 4, tz: cell.values.TZ! }),
    });
    const f = await diffRunDir(dir);
    expect(f.summary.alignedRequests).toBe(4);
    expect(f.findings.map((x) => [x.class, x.locations.map((l) => l.ordinal), x.attribution.axes])).toEqual([['request-presence', [3, 4], ['TZ']]]);
  });
});
