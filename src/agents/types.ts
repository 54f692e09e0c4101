import type { DialectName } from '../capture/schema.js';
import type { InstalledAgent, InstallOptions } from './install.js';

export type AgentRoute = 'forward' | 'reverse';

export interface AgentEnvContext {
  /** forward: the agent keeps its real API host and reaches it through HTTPS_PROXY; reverse: its base URL is the proxy. */
  route: AgentRoute;
  /** The proxy (or the run's own listener), e.g. http://127.0.0.1:8080. */
  proxyUrl: string;
  /** PEM of the promptdiff CA. */
  caCertPath: string;
  /**
   * forward: the API host the agent should believe it talks to (e.g. https://llm-gateway.example.cn);
   * unset keeps the agent's default host. reverse: replaces proxyUrl as the base URL (e.g. to add a
   * path prefix).
   */
  baseUrl?: string;
}

/** What was confirmed by running the agent here, so docs and `promptdiff agents` can say so. */
export interface PresetStatus {
  /** Exact versions seen to exit 0 with the stub's text, and through which routes. */
  verified: Array<{ version: string; routes: AgentRoute[] }>;
  /** Anything a user should know before relying on the preset. */
  notes: string[];
}

export interface AgentPreset {
  name: string;
  npmPackage: string;
  /** The API family the stub must speak for the agent to finish. */
  dialect: DialectName;
  /** The variable that holds the API base URL (for the runner's reverse route and base-URL axes). */
  baseUrlVar: string;
  status: PresetStatus;
  /** Installs (or reuses) a version into the agent cache; `latest` and ranges are resolved first. */
  install(version: string, options?: InstallOptions): Promise<InstalledAgent>;
  /**
   * argv (program first) that runs the agent once, non-interactively, on `prompt`. `ctx` is for
   * agents configured only by flags (Codex takes its provider's base URL as `-c` options).
   */
  command(installDir: string, prompt: string, extraArgs?: string[], ctx?: AgentEnvContext): string[];
  /**
   * Variables to add on top of a clean environment (HOME is the caller's): routing, CA trust for
   * the agent's runtime, a dummy key, and switches that keep it from phoning anywhere else.
   */
  env(ctx: AgentEnvContext): Record<string, string>;
  /**
   * Writes whatever config a fresh, empty HOME needs for the agent to run unattended. `ctx` is the
   * run's route, for agents whose base URL lives only in a config file (Factory's customModels).
   */
  prepareHome(homeDir: string, ctx?: AgentEnvContext): Promise<void>;
}
