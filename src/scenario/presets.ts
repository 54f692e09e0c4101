/**
 * Built-in agents. Minimal for now (the binary is expected on PATH); installing a pinned `version`
 * and per-agent quirks are later work. Each entry knows the command and which variable holds the
 * API base URL for reverse routing.
 */
export interface Preset {
  command: string[];
  baseUrlVar: string;
  /** Where the agent comes from, for docs and error messages. */
  install: string;
}

export const PRESETS: Record<string, Preset> = {
  'claude-code': { command: ['claude', '-p'], baseUrlVar: 'ANTHROPIC_BASE_URL', install: 'npm i -g @anthropic-ai/claude-code' },
  codex: { command: ['codex', 'exec', '--skip-git-repo-check'], baseUrlVar: 'OPENAI_BASE_URL', install: 'npm i -g @openai/codex' },
  'gemini-cli': { command: ['gemini', '-p'], baseUrlVar: 'GOOGLE_GEMINI_BASE_URL', install: 'npm i -g @google/gemini-cli' },
  'qwen-code': { command: ['qwen', '-p'], baseUrlVar: 'OPENAI_BASE_URL', install: 'npm i -g @qwen-code/qwen-code' },
};
