import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Progress } from './progress.js';
import { runScenario, type RunScenarioResult } from './runner.js';

/** scenarios/demo.yaml of this package (src/scenario/ and dist/scenario/ sit two levels below the root). */
export function demoScenarioPath(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'scenarios', 'demo.yaml');
}

/**
 * `promptdiff demo`: the canary across the demo matrix, offline. The CLI then diffs `outDir`
 * and shows the findings (the planted channels).
 */
export function runDemo(opts: { outDir: string; jobs?: number; progress?: Progress; signal?: AbortSignal; certsDir?: string }): Promise<RunScenarioResult> {
  return runScenario({ scenarioPath: demoScenarioPath(), ...opts });
}
