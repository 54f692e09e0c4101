import { isIP } from 'node:net';
import { dialects, anthropicMessages, type Dialect } from '../dialects/index.js';

/**
 * How a run reaches its proxy listener whatever the URL strings in the scenario say.
 *
 * forward: the agent sees the cell's proxy URL string (`proxy_urls`) with its port replaced by the
 * run's listener port — listeners are ephemeral and parallel runs need one each, so the port is the
 * only part of the string promptdiff cannot keep. The hostname is kept and resolved to 127.0.0.1 by
 * the run's private hosts file. The API base URL is left alone: it travels inside CONNECT.
 *
 * reverse: the base URL variable becomes http://<its hostname>:<listener port><its path>, the
 * hostname again mapped to 127.0.0.1 by the hosts file. Without namespaces the hostname becomes 127.0.0.1.
 */

const URL_PARTS = /^(https?:\/\/)([^/@?#]*@)?(\[[^\]]*\]|[^:/?#]*)(:\d*)?(.*)$/s;

/** Replaces host and/or port in a URL string without normalising anything else (no added "/"). */
export function rewriteUrl(url: string, change: { host?: string; port: number; scheme?: string }): string {
  const m = URL_PARTS.exec(url);
  if (!m) throw new Error(`not an http(s) URL: ${url}`);
  const [, scheme, userinfo = '', host, , rest = ''] = m;
  return `${change.scheme ?? scheme}${userinfo}${change.host ?? host}:${change.port}${rest}`;
}

export function hostnameOf(url: string): string {
  const host = URL_PARTS.exec(url)?.[3] ?? '';
  return host.startsWith('[') ? host.slice(1, -1) : host;
}

/** Hostnames that need a hosts-file entry to reach 127.0.0.1 (IP literals and localhost already do). */
export function needsHostsEntry(host: string): boolean {
  return host !== '' && isIP(host) === 0 && host.toLowerCase() !== 'localhost';
}

/** A complete, deterministic hosts file: the machine's own entries would leak into the runs. */
export function hostsFile(hostnames: Iterable<string>): string {
  const names = [...new Set([...hostnames].filter(needsHostsEntry).map((h) => h.toLowerCase()))].sort();
  // IPv4 only: an ::1 entry would make resolvers try IPv6 first, where no listener waits.
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', ...names.map((n) => `127.0.0.1\t${n}`)];
  return `${lines.join('\n')}\n`;
}

export interface RouteInput {
  route: 'forward' | 'reverse';
  /** forward: the proxy URL string of the cell (default http://127.0.0.1). */
  proxyUrl?: string;
  /** reverse: the variable holding the base URL and the value the cell gives it. */
  baseUrlVar: string;
  baseUrl?: string;
  listenerPort: number;
  /** False when there is no private hosts file: hostnames then become 127.0.0.1. */
  hostsMapped: boolean;
  caCertPath: string;
  /** reverse: the base URL when the cell gives none (DEFAULT_BASE_URLS for the agent's family; Anthropic's by default). */
  defaultBaseUrl?: string;
}

export const DEFAULT_PROXY_URL = 'http://127.0.0.1';
export const DEFAULT_BASE_URL = anthropicMessages.baseUrl;

/**
 * The base URL a run gets when nothing sets one, per API family: the vendor's own endpoint, as the
 * catalogue's first-party values. An OpenAI or Gemini client given Anthropic's host would send its
 * requests there (Host header, no /v1 prefix): a base-URL value without an endpoint for the agent's
 * family would then look like a change of host and path instead of "the agent keeps its default".
 */
export const DEFAULT_BASE_URLS = Object.fromEntries(dialects.map((d) => [d.name, d.baseUrl])) as Record<Dialect['name'], string>;

/** The routing variables of one run. */
export function routeEnv(input: RouteInput): Record<string, string> {
  const keepHost = (host: string) => (input.hostsMapped || !needsHostsEntry(host) ? undefined : '127.0.0.1');
  if (input.route === 'forward') {
    const given = input.proxyUrl ?? DEFAULT_PROXY_URL;
    const url = rewriteUrl(given, { port: input.listenerPort, host: keepHost(hostnameOf(given)) });
    return {
      HTTPS_PROXY: url,
      HTTP_PROXY: url,
      https_proxy: url,
      http_proxy: url,
      NODE_EXTRA_CA_CERTS: input.caCertPath,
      SSL_CERT_FILE: input.caCertPath,
      REQUESTS_CA_BUNDLE: input.caCertPath,
    };
  }
  const given = input.baseUrl ?? input.defaultBaseUrl ?? DEFAULT_BASE_URL;
  const url = rewriteUrl(given, { port: input.listenerPort, host: keepHost(hostnameOf(given)), scheme: 'http://' });
  return { [input.baseUrlVar]: url };
}
