import { claudeCode } from './claude-code.js';
import { codex } from './codex.js';
import { geminiCli } from './gemini-cli.js';
import { qwenCode } from './qwen-code.js';
import { opencode } from './opencode.js';
import { copilot } from './copilot.js';
import { kilo } from './kilo.js';
import { continueCli } from './continue.js';
import { factory } from './factory.js';
import type { AgentPreset } from './types.js';
import { UnknownPresetError } from '../errors.js';

export const AGENT_PRESETS: Record<string, AgentPreset> = {
  [claudeCode.name]: claudeCode,
  [codex.name]: codex,
  [geminiCli.name]: geminiCli,
  [qwenCode.name]: qwenCode,
  [opencode.name]: opencode,
  [copilot.name]: copilot,
  [kilo.name]: kilo,
  [continueCli.name]: continueCli,
  [factory.name]: factory,
};

/**
 * The one lookup of a preset by name, for a scenario, a flag or an argument alike; `where` names what
 * gave the name (`agent.preset`, `--agent`) so the one-line error points at it.
 */
export function agentPreset(name: string, where?: string): AgentPreset {
  const p = Object.hasOwn(AGENT_PRESETS, name) ? AGENT_PRESETS[name] : undefined;
  if (!p) throw new UnknownPresetError(`${where ? `${where}: ` : ''}unknown agent preset "${name}" (known: ${Object.keys(AGENT_PRESETS).join(', ')})`);
  return p;
}

/** `claude-code@2.1.80` → { preset, version }; no `@` means latest. */
export function parseAgentSpec(spec: string): { preset: AgentPreset; version: string } {
  const at = spec.lastIndexOf('@');
  const name = at > 0 ? spec.slice(0, at) : spec;
  const version = at > 0 ? spec.slice(at + 1) : 'latest';
  return { preset: agentPreset(name), version: version || 'latest' };
}
