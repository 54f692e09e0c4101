import { opencodeFamily } from './opencode.js';
import { isMusl } from './platform.js';
import type { AgentPreset } from './types.js';

/*
 * Kilo CLI (npm @kilocode/cli), a fork of opencode: the same run command, config and switches with
 * KILO_ names. It also asks its own API (api.kilo.ai) for model lists, which the stub answers.
 * Verified by `npm run test:agents` (test/agents-e2e/kilo.test.ts); docs/agents.md.
 */

export const kilo: AgentPreset = opencodeFamily({
  name: 'kilo',
  install: {
    name: 'kilo',
    npmPackage: '@kilocode/cli',
    platformPackage: `@kilocode/cli-${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}${isMusl() ? '-musl' : ''}`,
  },
  binary: 'bin/kilo',
  prefix: 'KILO_',
  // Analytics (PostHog) and session ingest to Kilo's hosts are on by default.
  offline: { KILO_TELEMETRY_LEVEL: 'off', KILO_DISABLE_SESSION_INGEST: '1' },
  // Its model-list fetches (api.kilo.ai/api/openrouter/models) would leave the machine in the reverse route.
  routeEnv: (ctx): Record<string, string> => (ctx.route === 'reverse' ? { KILO_API_URL: ctx.proxyUrl.replace(/\/+$/, '') } : {}),
  status: {
    verified: [{ version: '7.7.7', routes: ['forward', 'reverse'] }],
    notes: [
      '7.8.1 (latest on 2026-12-01) has no linux-x64 platform build in the registry: `latest` falls back to 7.7.7, the newest release that has one.',
      'Every run asks GET https://api.kilo.ai/api/openrouter/models twice (the stub answers {}; it logs a schema error and goes on). In the reverse route KILO_API_URL points that at the listener.',
    ],
  },
});
