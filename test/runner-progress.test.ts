import { describe, expect, test } from 'vitest';
import type { RunEntry } from '../src/scenario/manifest.js';
import { createProgress } from '../src/scenario/progress.js';

function sink(isTTY: boolean) {
  let text = '';
  return { stream: { isTTY, columns: 200, write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream, text: () => text };
}

const entry = (id: string, status: RunEntry['status'], message?: string): RunEntry => ({
  id,
  cell: id.slice(0, 4),
  rep: 1,
  env: {},
  startedAt: null,
  endedAt: null,
  durationMs: 1234,
  exitCode: status === 'ok' ? 0 : 1,
  signal: null,
  status,
  exchanges: status === 'ok' ? 3 : 0,
  message,
});

describe('progress', () => {
  test('plain lines when not a terminal', () => {
    const out = sink(false);
    const p = createProgress(out.stream);
    p.start(2, '2 runs');
    p.runStarted('c001-r1');
    p.runDone(entry('c001-r1', 'ok'));
    p.runDone(entry('c002-r1', 'no-traffic', 'agent sent no traffic through the proxy\n--- agent stderr (tail) ---\nboom'));
    p.end();
    expect(out.text()).toBe(
      'promptdiff: 2 runs\npromptdiff: [1/2] c001-r1 ok 1.2s — 3 exchanges\npromptdiff: [2/2] c002-r1 no-traffic 1.2s — agent sent no traffic through the proxy\n',
    );
    expect(out.text()).not.toContain('\x1b');
  });

  test('a live bar on a terminal, with failures on lines of their own', () => {
    const out = sink(true);
    const p = createProgress(out.stream);
    p.start(2, '2 runs');
    p.runStarted('c001-r1');
    p.runDone(entry('c001-r1', 'failed', 'agent failed (exit code 1)'));
    p.end();
    expect(out.text()).toContain('\r\x1b[2K[');
    expect(out.text()).toMatch(/1\/2 {2}ok 0 {2}failed 1 {2}running 0 {2}eta /);
    expect(out.text()).toContain('promptdiff: c001-r1 failed 1.2s — agent failed (exit code 1)\n');
  });
});
