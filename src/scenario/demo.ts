import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Findings } from '../diff/findings-schema.js';
import type { Scenario } from './schema.js';

/** scenarios/demo.yaml of this package (src/scenario/ and dist/scenario/ sit two levels below the root). */
export function demoScenarioPath(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'scenarios', 'demo.yaml');
}

/** What each canary plant kind becomes in the differ's words. */
const PLANT_CLASS: Record<string, string> = {
  homoglyph: 'confusable',
  apostrophe: 'confusable',
  zwsp: 'invisible',
  'date-format': 'format-change',
  header: 'value-change',
  toolwrap: 'whitespace-lookalike',
};

/** Which axis of a scenario a canary trigger reads. */
function triggerAxis(trigger: string, baseUrlVar: string): string | null {
  return trigger === 'tz' ? 'TZ' : trigger === 'base' ? baseUrlVar : trigger === 'locale' ? 'LANG' : null;
}

export interface DemoPlant {
  plant: string;
  cls: string;
  axis: string;
}

/** The canary's `--plant KIND:TRIGGER=REGEX` arguments in a scenario, as the findings they should give. */
export function demoPlants(scenario: Scenario): DemoPlant[] {
  if (!('command' in scenario.agent)) return [];
  const { command, base_url_var } = scenario.agent;
  return command.flatMap((arg, i) => {
    const m = arg === '--plant' ? /^([a-z-]+):([a-z]+)=/.exec(command[i + 1] ?? '') : null;
    const axis = m ? triggerAxis(m[2]!, base_url_var) : null;
    return m && axis && PLANT_CLASS[m[1]!] ? [{ plant: command[i + 1]!, cls: PLANT_CLASS[m[1]!]!, axis }] : [];
  });
}

export interface DemoCheck {
  ok: boolean;
  /** One line for people. */
  line: string;
}

/**
 * The demo is a self-check of planted channels: it passes when every plant was found as its
 * class, attributed to exactly its axis, and nothing else was found but overt echoes.
 */
export function checkDemo(findings: Findings, plants: DemoPlant[]): DemoCheck {
  const covert = findings.findings.filter((f) => f.class !== 'echo' && f.class !== 'expected');
  const missing = plants.filter((p) => !covert.some((f) => f.class === p.cls && f.attribution.axes.join() === p.axis));
  const extra = covert.filter((f) => !plants.some((p) => f.class === p.cls && f.attribution.axes.join() === p.axis));
  const failed = findings.summary.runsFailed.length;
  if (missing.length === 0 && extra.length === 0 && failed === 0) {
    return { ok: true, line: `demo: OK: found exactly the ${plants.length} planted channels (${plants.map((p) => `${p.cls} by ${p.axis}`).join(', ')}), and nothing else but overt echoes` };
  }
  const why = [
    ...missing.map((p) => `missed ${p.plant} (${p.cls} by ${p.axis})`),
    ...extra.map((f) => `unexpected ${f.class} by ${f.attribution.axes.join(' × ') || 'no axis'} at ${f.location.path}`),
    ...(failed ? [`${failed} runs failed`] : []),
  ];
  return { ok: false, line: `demo: FAILED: ${why.join('; ')}` };
}
