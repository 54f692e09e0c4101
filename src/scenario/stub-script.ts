import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { TOOL_PROFILES, toolProfile } from '../agents/tool-maps.js';
import { scriptIssues, type StubScript } from '../proxy/stub-script-definition.js';
import type { StubScriptOptions } from '../proxy/stub-script.js';

/*
 * A scenario's stub_script as the runner uses it: checked against the agent's tool map when the
 * scenario is loaded, handed to the proxy, and after each run compared with what the capture says
 * was played, so a run whose script could not be followed is never reported ok.
 */

const PLAIN_COMMAND = 'agent.command';

/** Problems a script has for this agent before it runs (paths relative to stub_script). Unknown presets are left to the preset check. */
export function stubScriptIssues(items: StubScript, preset: string | null): Array<{ path: Array<string | number>; message: string }> {
  if (preset !== null && !Object.hasOwn(TOOL_PROFILES, preset)) return [];
  return scriptIssues(items, toolProfile(preset).tools, preset ?? PLAIN_COMMAND);
}

export function stubScriptOptions(items: StubScript, preset: string | null): StubScriptOptions {
  return { items, tools: toolProfile(preset).tools, agent: preset ?? PLAIN_COMMAND };
}

/** The preset's flags for running tools unattended, minus any flag the scenario's args already give (theirs win). */
export function scriptArgs(preset: string, given: readonly string[]): string[] {
  return toolProfile(preset).scriptArgs.filter(([flag]) => !given.includes(flag!)).flat();
}

interface TurnRecord {
  index: number | null;
  reason: string;
  error?: string;
}

/**
 * Why a run did not play its script, from its capture: the first turn that was answered with an
 * error, or the turns no request reached (the agent stopped asking, or none of its requests was a
 * model turn offering tools). null when every turn was played.
 */
export async function scriptProblem(captureDir: string, items: StubScript): Promise<string | null> {
  let text = '';
  try {
    text = await readFile(path.join(captureDir, 'exchanges.jsonl'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const turns: TurnRecord[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const turn = (JSON.parse(line) as { stubTurn?: TurnRecord }).stubTurn;
      if (turn) turns.push(turn);
    } catch {
      // A damaged line is the attribution check's to report.
    }
  }
  const failed = turns.find((t) => t.error !== undefined);
  if (failed) return failed.error!;
  const played = new Set(turns.flatMap((t) => (t.index === null ? [] : [t.index])));
  const missing = items.map((_, i) => i).filter((i) => !played.has(i));
  if (missing.length === 0) return null;
  const others = [...new Set(turns.filter((t) => t.index === null).map((t) => t.reason))];
  const why = others.length > 0 ? `; other requests: ${others.join('; ')}` : '';
  if (played.size === 0) return `stub_script: no request was a turn of the script${why}`;
  return `stub_script: turn${missing.length === 1 ? '' : 's'} ${missing.join(', ')} of ${items.length} never asked for (played: ${[...played].sort((a, b) => a - b).join(', ')})${why}`;
}
