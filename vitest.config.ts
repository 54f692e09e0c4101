import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Nothing outlives the suite in /tmp (test/setup/*-tmp.ts), and the proxy's expected warnings
    // (refused connections, TLS handshakes a test breaks on purpose) stay out of its output:
    // PROMPTDIFF_LOG_LEVEL=warn npm test shows them.
    globalSetup: ['test/setup/global-tmp.ts'],
    setupFiles: ['test/setup/file-tmp.ts'],
    env: { PROMPTDIFF_LOG_LEVEL: process.env.PROMPTDIFF_LOG_LEVEL ?? 'silent' },
    include: ['test/**/*.test.ts'],
    // The other real agents' releases: npm run test:agents (Claude Code and Continue CLI run here too)
    exclude: ['test/agents-e2e/**', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // e2e tests start proxies and agent processes; two cores, two workers
    maxWorkers: 2,
  },
});
