import { claudeCode } from './claude-code.js';
import { codex, geminiCli, qwenCode } from './others.js';
import type { AgentPreset } from './types.js';

export const AGENT_PRESETS: Record<string, AgentPreset> = {
  [claudeCode.name]: claudeCode,
  [codex.name]: codex,
  [geminiCli.name]: geminiCli,
  [qwenCode.name]: qwenCode,
};

export function agentPreset(name: string): AgentPreset {
  const p = AGENT_PRESETS[name];
  if (!p) throw new Error(`unknown agent preset "${name}" (known: ${Object.keys(AGENT_PRESETS).join(', ')})`);
  return p;
}

/** `claude-code@2.1.80` → { preset, version }; no `@` means latest. */
export function parseAgentSpec(spec: string): { preset: AgentPreset; version: string } {
  const at = spec.lastIndexOf('@');
  const name = at > 0 ? spec.slice(0, at) : spec;
  const version = at > 0 ? spec.slice(at + 1) : 'latest';
  return { preset: agentPreset(name), version: version || 'latest' };
}
