import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real Codex / Gemini CLI / Qwen Code releases: npm run test:agents
    exclude: ['test/agents-e2e/**', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // e2e tests start proxies and agent processes; two cores, two workers
    maxWorkers: 2,
  },
});
