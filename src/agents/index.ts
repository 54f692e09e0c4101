export * from './install.js';
export * from './types.js';
export { AGENT_PRESETS, agentPreset, parseAgentSpec } from './presets.js';
export { claudeCode, claudeEntryPoint, claudePlatformKey, type ClaudeEntryPoint } from './claude-code.js';
export { codex, geminiCli, qwenCode, GEMINI_STUB_MODEL } from './others.js';
