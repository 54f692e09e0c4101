/** The variables that route a client through the proxy and make it trust the CA, per runtime. */
export function clientEnv(proxyUrl: string, caCertPath: string): Array<[string, string]> {
  return [
    ['HTTPS_PROXY', proxyUrl],
    ['HTTP_PROXY', proxyUrl],
    ['https_proxy', proxyUrl],
    ['http_proxy', proxyUrl],
    // The reverse route talks to the proxy directly; a client must not send that through itself.
    ['NO_PROXY', 'localhost,127.0.0.1,::1'],
    ['no_proxy', 'localhost,127.0.0.1,::1'],
    // Node ≥ 22.21 / 24: makes fetch() honour HTTPS_PROXY; ignored by older Node.
    ['NODE_USE_ENV_PROXY', '1'],
    ['NODE_EXTRA_CA_CERTS', caCertPath],
    ['SSL_CERT_FILE', caCertPath],
    ['REQUESTS_CA_BUNDLE', caCertPath],
    ['CURL_CA_BUNDLE', caCertPath],
    ['CODEX_CA_CERTIFICATE', caCertPath],
    ['DENO_CERT', caCertPath],
  ];
}

export const SHELLS = ['bash', 'zsh', 'fish', 'powershell'] as const;
export type Shell = (typeof SHELLS)[number];

function quotePosix(v: string): string {
  return `'${v.replace(/'/g, `'\\''`)}'`;
}

export function formatExports(vars: Array<[string, string]>, shell: Shell): string {
  return vars
    .map(([k, v]) => {
      switch (shell) {
        case 'fish':
          return `set -gx ${k} ${quotePosix(v)}`;
        case 'powershell':
          return `$env:${k} = '${v.replace(/'/g, "''")}'`;
        default:
          return `export ${k}=${quotePosix(v)}`;
      }
    })
    .join('\n');
}
