import { defineConfig } from 'vitest/config';

/** `npm run test:agents`: real agent releases from npm (Codex, Gemini CLI, Qwen Code) — large downloads, not in CI. */
export default defineConfig({
  test: {
    include: ['test/agents-e2e/**/*.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 900_000,
    maxWorkers: 1,
  },
});
