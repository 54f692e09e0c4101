import path from 'node:path';
import { scenarioPreset, splitPresetArgs } from './prepare-agent.js';
import type { Scenario } from './schema.js';

export interface AgentIdentity {
  /** argv of a plain `agent.command`; null for a preset (its program is known once installed). */
  command: string[] | null;
  preset: string | null;
  /** The version the scenario asks for (`latest` when it names none); exact only after install. */
  version: string | null;
  baseUrlVar: string;
}

const RELATIVE = /^\.\.?\//;

/**
 * Makes the scenario independent of where it was loaded from: relative paths (workspace, and command
 * arguments starting with ./ or ../) become absolute against the scenario file's directory. The
 * result is what manifest.json stores, so `--resume` needs nothing but the run directory.
 */
export function resolvePaths(scenario: Scenario, baseDir: string): Scenario {
  const resolved: Scenario = { ...scenario };
  if (scenario.workspace) resolved.workspace = path.resolve(baseDir, scenario.workspace);
  if ('command' in scenario.agent) {
    resolved.agent = {
      ...scenario.agent,
      command: scenario.agent.command.map((arg) => (RELATIVE.test(arg) ? path.resolve(baseDir, arg) : arg)),
    };
  }
  return resolved;
}

/** What the scenario says about its agent, checked without installing anything. */
export function agentIdentity(scenario: Scenario): AgentIdentity {
  const { agent } = scenario;
  if ('command' in agent) return { command: agent.command, preset: null, version: null, baseUrlVar: agent.base_url_var };
  const preset = scenarioPreset(agent.preset);
  splitPresetArgs(agent.args);
  return {
    command: null,
    preset: preset.name,
    version: agent.version ?? 'latest',
    baseUrlVar: agent.base_url_var ?? preset.baseUrlVar,
  };
}

/** The scenario as stored in manifest.json: re-validating it yields the same scenario. */
export function serializeScenario(scenario: Scenario): Record<string, unknown> {
  return { ...scenario, timeout: `${scenario.timeout}ms` };
}
