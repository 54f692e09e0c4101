import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { installAgent, isExactVersion, resolveVersion, type InstalledAgent, type InstallOptions } from './install.js';
import type { AgentEnvContext } from './types.js';
import { openaiChat } from '../dialects/openai-chat.js';

/** The proxy variables every HTTP stack we know of reads (some only the lower-case spelling). */
export function proxyVars(proxyUrl: string): Record<string, string> {
  return { HTTPS_PROXY: proxyUrl, HTTP_PROXY: proxyUrl, https_proxy: proxyUrl, http_proxy: proxyUrl };
}

export function installer(name: string, npmPackage: string) {
  return async (version: string, options: InstallOptions = {}): Promise<InstalledAgent> => {
    const exact = isExactVersion(version) ? version : await resolveVersion(npmPackage, version, options);
    return installAgent({ name, npmPackage, version: exact }, options);
  };
}

/** Forward route for a Node (or Bun) agent: the proxy variables and the CA where Node reads it. */
export function forwardTrust(ctx: AgentEnvContext): Record<string, string> {
  return { ...proxyVars(ctx.proxyUrl), NODE_EXTRA_CA_CERTS: ctx.caCertPath };
}

export async function writeJson(file: string, value: unknown): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** Base URL for OpenAI-style clients: the proxy itself (reverse) or the host they believe in (forward). */
export function openaiBase(ctx: AgentEnvContext | undefined): string {
  if (!ctx) return openaiChat.baseUrl;
  if (ctx.route === 'reverse') return ctx.baseUrl ?? `${ctx.proxyUrl.replace(/\/+$/, '')}/v1`;
  return ctx.baseUrl ?? openaiChat.baseUrl;
}
