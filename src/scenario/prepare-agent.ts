import path from 'node:path';
import {
  AGENT_PRESETS,
  AgentInstallError,
  agentPreset,
  type AgentEnvContext,
  type AgentPreset,
  type InstalledAgent,
  type InstallOptions,
} from '../agents/index.js';
import { ScenarioError } from './scenario-file.js';
import type { Manifest } from './manifest.js';
import type { DialectName } from '../capture/schema.js';
import type { Scenario } from './schema.js';
import { scriptArgs } from './stub-script.js';

/**
 * The runner's view of an agent: one shape for `agent.command` and for built-in presets
 * (src/agents/presets.ts is the only preset table). A preset is installed at an exact version into
 * the agent cache once per `runScenario`, before any run starts; each run then gets the preset's
 * command, its environment for the run's route, and its HOME prepared.
 */
export interface PreparedAgent {
  /** What manifest.json records as `agent`. */
  identity: Manifest['agent'];
  baseUrlVar: string;
  /** The API family the agent speaks (a plain command's is guessed from its base-URL variable). */
  dialect: Exclude<DialectName, 'unknown'>;
  preset: AgentPreset | null;
  installed: InstalledAgent | null;
  /** argv (program first) of one run. */
  command(ctx: AgentEnvContext): string[];
  /** Variables the preset needs for this run's route (empty for a plain command). */
  env(ctx: AgentEnvContext): Record<string, string>;
  /** Writes what the agent needs into a run's fresh HOME (its real location, not the sandbox path) for the run's route. */
  prepareHome(realHome: string, ctx: AgentEnvContext): Promise<void>;
}

export function presetNames(): string[] {
  return Object.keys(AGENT_PRESETS);
}

/** The preset a scenario names, or an error naming the field and the known presets. */
export function scenarioPreset(name: string): AgentPreset {
  return agentPreset(name, 'agent.preset');
}

/** A preset's `args`: the last one is the task (the prompt), the ones before it are extra flags. */
export function splitPresetArgs(args: string[]): { extra: string[]; prompt: string } {
  const prompt = args[args.length - 1];
  if (prompt === undefined) throw new ScenarioError('agent.args: give the task as the last argument (e.g. args: ["Say hello."])');
  return { extra: args.slice(0, -1), prompt };
}

export interface PrepareAgentOptions {
  /** The manifest of the run being resumed: its exact version is reused, never re-resolved. */
  existing?: Manifest['agent'] | null;
  install?: InstallOptions;
}

/**
 * Installs (or finds in the cache) the scenario's preset and returns how to run it. A plain
 * `agent.command` passes through unchanged.
 */
export async function prepareAgent(scenario: Scenario, options: PrepareAgentOptions = {}): Promise<PreparedAgent> {
  const { agent } = scenario;
  if ('command' in agent) {
    return {
      identity: { command: agent.command, preset: null, version: null },
      baseUrlVar: agent.base_url_var,
      dialect: dialectOfVariable(agent.base_url_var),
      preset: null,
      installed: null,
      command: () => agent.command,
      env: () => ({}),
      prepareHome: async () => undefined,
    };
  }
  const preset = scenarioPreset(agent.preset);
  const args = splitPresetArgs(agent.args);
  const { prompt } = args;
  // A script makes the agent run tools, which most agents only do unattended when told so.
  const extra = scenario.stub_script ? [...args.extra, ...scriptArgs(preset.name, args.extra)] : args.extra;
  const requested = agent.version ?? 'latest';
  // A resumed run keeps the version it started with, even if `latest` has moved since.
  const version = options.existing?.preset === preset.name && options.existing.version ? options.existing.version : requested;
  let installed: InstalledAgent;
  try {
    installed = await preset.install(version, options.install);
  } catch (err) {
    if (err instanceof AgentInstallError) throw new ScenarioError(`agent.version: ${err.message}`);
    throw err;
  }
  const command = (ctx: AgentEnvContext) => preset.command(installed.dir, prompt, extra, ctx);
  // Recorded once: the argv as built for the first run (only flag-configured agents such as Codex put the route into it).
  const sample = command({ route: scenario.route, proxyUrl: 'http://127.0.0.1', caCertPath: '' });
  return {
    identity: {
      command: sample,
      preset: preset.name,
      version: installed.version,
      requested,
      npmPackage: preset.npmPackage,
      integrity: installed.integrity,
      dialect: preset.dialect,
    },
    baseUrlVar: agent.base_url_var ?? preset.baseUrlVar,
    dialect: preset.dialect as Exclude<DialectName, 'unknown'>,
    preset,
    installed,
    command,
    env: (ctx) => preset.env(ctx),
    prepareHome: (realHome, ctx) => preset.prepareHome(realHome, ctx),
  };
}

/** The API family a plain command most likely speaks, by the variable that holds its base URL. */
export function dialectOfVariable(name: string): Exclude<DialectName, 'unknown'> {
  if (/^OPENAI/.test(name)) return 'openai-chat';
  if (/GEMINI|GOOGLE/.test(name)) return 'gemini';
  return 'anthropic-messages';
}

/** True when `child` is `parent` or inside it. */
export function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}
