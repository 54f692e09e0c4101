import { defineConfig } from 'vitest/config';

/** `npm run test:agents`: every preset but Claude Code with its real release from npm — large downloads, not in CI. Continue CLI's file is also in `npm test`. */
export default defineConfig({
  test: {
    // Nothing outlives the suite in /tmp (test/setup/*-tmp.ts), and the proxy's expected warnings
    // (refused connections, TLS handshakes a test breaks on purpose) stay out of its output:
    // PROMPTDIFF_LOG_LEVEL=warn npm test shows them.
    globalSetup: ['test/setup/global-tmp.ts'],
    setupFiles: ['test/setup/file-tmp.ts'],
    env: { PROMPTDIFF_LOG_LEVEL: process.env.PROMPTDIFF_LOG_LEVEL ?? 'silent' },
    include: ['test/agents-e2e/**/*.test.ts', 'test/e2e-continue.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 900_000,
    maxWorkers: 1,
  },
});
