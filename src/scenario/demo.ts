import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** scenarios/demo.yaml of this package (src/scenario/ and dist/scenario/ sit two levels below the root). */
export function demoScenarioPath(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'scenarios', 'demo.yaml');
}
