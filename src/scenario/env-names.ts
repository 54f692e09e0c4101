/** Names of environment variables a scenario may vary or set, and those the runner keeps for itself. */

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Variables the runner owns: an axis or an env entry on them would break isolation or routing. */
export const RESERVED_ENV = new Set([
  'HOME',
  'USER',
  'LOGNAME',
  'PWD',
  'TMPDIR',
  'XDG_CONFIG_HOME',
  'XDG_CACHE_HOME',
  'XDG_DATA_HOME',
  'XDG_STATE_HOME',
  'XDG_RUNTIME_DIR',
  'HTTPS_PROXY',
  'HTTP_PROXY',
  'https_proxy',
  'http_proxy',
  'ALL_PROXY',
  'all_proxy',
  'NO_PROXY',
  'no_proxy',
  'NODE_EXTRA_CA_CERTS',
  'SSL_CERT_FILE',
  'REQUESTS_CA_BUNDLE',
  'CURL_CA_BUNDLE',
  'LD_PRELOAD',
  'FAKETIME',
  'FAKETIME_FMT',
  'DONT_FAKE_MONOTONIC',
  'proxy_url',
]);

/** The pseudo-axis name under which `proxy_urls` appear in cells. */
export const PROXY_URL_AXIS = 'proxy_url';

/** Why `name` cannot be an axis or env entry, or null when it can. */
export function envNameProblem(name: string): string | null {
  if (!ENV_NAME.test(name)) return 'expected an environment variable name (letters, digits, underscore)';
  if (RESERVED_ENV.has(name)) return 'is set by the runner itself (isolation or routing) and cannot be chosen here';
  return null;
}

