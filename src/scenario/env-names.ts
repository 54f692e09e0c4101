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

/**
 * Variables that change how the agent's runtime loads code or which TLS certificates it trusts.
 * The policy (docs/scenarios.md, "Reserved variables"): the ones the runner sets itself are in
 * RESERVED_ENV and refused (LD_PRELOAD carries the clock pin, NODE_EXTRA_CA_CERTS and SSL_CERT_FILE
 * the CA); these are allowed, because studying them can be the point, but each use is a warning
 * printed when the run starts and kept in manifest.json (`isolation.warnings`): what they do
 * happens before the agent's first line of code, so a finding along one may be the runtime's, not
 * the agent's, and a changed trust store can route traffic around the proxy.
 */
export const RUNTIME_ENV: Readonly<Record<string, string>> = {
  NODE_OPTIONS: 'loads code into Node before the agent (--require, --import, --loader)',
  NODE_PATH: "changes where Node's require() finds modules",
  NODE_TLS_REJECT_UNAUTHORIZED: 'turns off TLS certificate checks in Node',
  NODE_USE_SYSTEM_CA: "changes which CAs Node trusts",
  LD_AUDIT: 'loads a library into every dynamically linked program',
  LD_LIBRARY_PATH: 'changes which shared libraries programs load',
  DYLD_INSERT_LIBRARIES: 'loads a library into every program (macOS)',
  DYLD_LIBRARY_PATH: 'changes which shared libraries programs load (macOS)',
  GLIBC_TUNABLES: 'changes how the C library behaves',
  GCONV_PATH: 'loads character-set modules into programs',
  PYTHONPATH: 'changes where Python imports modules from',
  PYTHONSTARTUP: 'runs a file in interactive Python',
  PYTHONHOME: 'changes which Python standard library is used',
  PYTHONHTTPSVERIFY: 'turns off TLS certificate checks in Python',
  PERL5OPT: 'loads code into every Perl program',
  PERL5LIB: 'changes where Perl loads modules from',
  RUBYOPT: 'loads code into every Ruby program',
  RUBYLIB: 'changes where Ruby loads libraries from',
  BASH_ENV: 'runs a file in every non-interactive bash',
  SSL_CERT_DIR: 'changes which CAs OpenSSL-based programs trust',
  GIT_SSL_NO_VERIFY: 'turns off TLS certificate checks in git',
  GIT_SSL_CAINFO: 'changes which CAs git trusts',
};

/** One warning per runtime variable the scenario sets, varies or copies in (`where` names the field). */
export function runtimeVariableWarnings(fields: Record<string, readonly string[]>): string[] {
  const out: string[] = [];
  for (const [where, names] of Object.entries(fields)) {
    for (const name of names) {
      const what = RUNTIME_ENV[name];
      if (what) out.push(`${where}.${name} ${what}: findings along it may come from the runtime rather than the agent (see "Reserved variables" in docs/scenarios.md)`);
    }
  }
  return out;
}

/** The pseudo-axis name under which `proxy_urls` appear in cells. */
export const PROXY_URL_AXIS = 'proxy_url';

/** Why `name` cannot be an axis or env entry, or null when it can. */
export function envNameProblem(name: string): string | null {
  if (!ENV_NAME.test(name)) return 'expected an environment variable name (letters, digits, underscore)';
  if (RESERVED_ENV.has(name)) return 'is set by the runner itself (isolation or routing) and cannot be chosen here';
  return null;
}

