import { expect } from 'vitest';
import type { ExchangeRecord } from '../../src/capture/schema.js';
import { DEFAULT_STUB_TEXT } from '../../src/proxy/server.js';
import type { AgentPreset } from '../../src/agents/index.js';
import { explain, type AgentRun } from './agent-e2e.js';

/*
 * What every preset's real-agent test checks of one run (test/agents-e2e/): exit 0 with the
 * stub's text, at least one model call parsed by the preset's dialect with a system prompt, tools
 * and the task, answered 200, and no request the stub could not answer. The caller asserts which
 * hosts and which other requests the agent made.
 */
export function modelCalls(preset: AgentPreset, r: AgentRun): ExchangeRecord[] {
  return r.records.filter((x) => x.dialect === preset.dialect && x.parsed?.endpoint !== undefined);
}

export function expectCompleted(preset: AgentPreset, r: AgentRun, prompt = 'Say hello.'): ExchangeRecord[] {
  expect(r.code, explain(r)).toBe(0);
  expect(r.stdout, explain(r)).toContain(DEFAULT_STUB_TEXT);
  const calls = modelCalls(preset, r);
  expect(calls.length, explain(r)).toBeGreaterThanOrEqual(1);
  // The turn that carries the task: the agent's main prompt (title requests carry it too, without tools).
  const main = calls.filter((c) => c.parsed!.tools.length > 0);
  expect(main.length, explain(r)).toBeGreaterThanOrEqual(1);
  for (const c of main) {
    expect(c.parsed!.system.join('').length, explain(r)).toBeGreaterThan(0);
    expect(JSON.stringify(c.parsed!.messages), explain(r)).toContain(prompt);
  }
  for (const x of r.records) {
    expect(x.response?.status, explain(r)).toBe(200);
    expect(x.errors, explain(r)).toEqual([]);
  }
  return calls;
}

/** `METHOD host/path` of every request that is not a model call, sorted, ids and query strings cut. */
export function otherRequests(preset: AgentPreset, r: AgentRun): string[] {
  const calls = new Set(modelCalls(preset, r));
  return [
    ...new Set(
      r.records
        .filter((x) => !calls.has(x))
        .map((x) => `${x.request.method} ${x.route === 'forward' ? new URL(x.request.url).host : ''}${x.request.path.split('?')[0]!.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, 'ID')}`),
    ),
  ].sort();
}
