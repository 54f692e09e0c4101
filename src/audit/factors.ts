import { ScenarioError } from '../scenario/scenario-file.js';
import { factorProblem, type MachineSupport } from '../scenario/machine.js';
import type { SkippedFactor } from '../scenario/manifest.js';
import type { Catalogue, Factor } from '../scenario/factors/catalogue.js';
import { resolveFactors } from '../scenario/factors/resolve.js';
import { designAxes, PROXY_URL_AXIS, type Scenario } from '../scenario/schema.js';
import { baseUrlFor } from '../scenario/factors/base-url.js';
import { dialectOfVariable, scenarioPreset } from '../scenario/prepare-agent.js';
import { hostnameOf } from '../scenario/routing.js';
import type { AuditFactor, AuditProfile } from './design.js';

/**
 * What an audit varies: the catalogue's factors (all, those named by --factors, or those the
 * scenario lists with its own values), the scenario's variable axes, and the profiles restricted
 * to what is varied. Factors this machine cannot apply are set aside with the reason.
 */
export interface AuditFactors {
  factors: AuditFactor[];
  /** Catalogue definitions of the factors tried, for the run scenario. */
  definitions: Map<string, Factor>;
  profiles: AuditProfile[];
  /** Asked for (or in the catalogue) but this machine cannot apply them: not compared, said so, exit 3. */
  skipped: SkippedFactor[];
  /** Catalogue factors that cannot vary in any run of this scenario (MAC address; a proxy URL in reverse route). */
  notApplicable: SkippedFactor[];
  /** Definitions of the skipped factors, so the run directory records them too. */
  skippedDefinitions: Map<string, Factor>;
}

export function chooseAuditFactors(options: {
  scenario: Scenario;
  catalogue: Catalogue;
  support: MachineSupport;
  /** --factors: catalogue factor names; null for the scenario's, or else the whole catalogue. */
  names: string[] | null;
  /** --profiles: profile names; null for all. */
  profiles: string[] | null;
  where: string;
}): AuditFactors {
  const { scenario, catalogue } = options;
  const named = options.names ?? (Object.keys(scenario.factors).length ? Object.keys(scenario.factors) : null);
  for (const name of options.names ?? []) {
    if (!catalogue.factors.has(name)) throw new ScenarioError(`--factors: ${name} is not a factor of the catalogue (promptdiff factors lists them)`);
  }
  // The scenario's own values win; a factor it does not list gets every catalogue value.
  const wanted: Record<string, string[]> = {};
  for (const name of named ?? [...catalogue.factors.keys()]) {
    const f = catalogue.factors.get(name);
    if (!f) continue;
    wanted[name] = scenario.factors[name] ?? [...f.values.keys()];
  }
  const resolved = resolveFactors(wanted, catalogue, options.where);

  const skipped: SkippedFactor[] = [];
  const notApplicable: SkippedFactor[] = [];
  const definitions = new Map<string, Factor>();
  const skippedDefinitions = new Map<string, Factor>();
  for (const factor of resolved.values()) {
    const reason = factorProblem(factor, options.support);
    if (!reason) definitions.set(factor.name, factor);
    else if (named === null && (factor.kind.needs.includes('unavailable') || (factor.kind.needs.includes('forward-route') && scenario.route !== 'forward'))) {
      notApplicable.push({ factor: factor.name, reason });
    } else {
      skipped.push({ factor: factor.name, reason });
      skippedDefinitions.set(factor.name, factor);
    }
  }

  const factors: AuditFactor[] = [];
  // The scenario's variable axes (and proxy URLs) are factors too: their first value is the baseline.
  for (const [name, values] of Object.entries(designAxes({ axes: scenario.axes, proxy_urls: scenario.proxy_urls }))) {
    factors.push({ name, baseline: values[0]!, values });
  }
  for (const f of definitions.values()) {
    const values = [...f.values.keys()];
    const baseline = values.includes(f.baseline) ? f.baseline : values[0]!;
    factors.push({ name: f.name, baseline, values: [baseline, ...values.filter((v) => v !== baseline)] });
  }
  if (factors.length === 0) throw new ScenarioError(`${options.where}: nothing to audit: every factor asked for was skipped (${skipped.map((s) => `${s.factor}: ${s.reason}`).join('; ')})`);

  const wantedProfiles = options.profiles ?? [...catalogue.profiles.keys()];
  const profiles: AuditProfile[] = [];
  for (const name of wantedProfiles) {
    const p = catalogue.profiles.get(name);
    if (!p) throw new ScenarioError(`--profiles: ${name} is not a profile of the catalogue (known: ${[...catalogue.profiles.keys()].join(', ')})`);
    const values: Record<string, string> = {};
    for (const [factor, value] of Object.entries(p.values)) {
      const f = factors.find((x) => x.name === factor);
      // A profile value the scenario's own value list leaves out is not tried.
      if (f && f.values.includes(value) && value !== f.baseline) values[factor] = value;
    }
    if (Object.keys(values).length) profiles.push({ name, values });
  }
  if (scenario.proxy_urls && definitions.has('network.proxy-url')) {
    throw new ScenarioError(`${options.where}: proxy_urls and the network.proxy-url factor vary the same thing; keep one (the ${PROXY_URL_AXIS} axis or the factor)`);
  }
  return { factors, definitions, profiles, skipped, notApplicable, skippedDefinitions };
}

/** Whether NO_PROXY (comma-separated names, `.suffix`, `*`) sends requests for `host` around the proxy. */
export function noProxyExcludes(list: string, host: string): boolean {
  const h = host.toLowerCase();
  return list.split(',').some((raw) => {
    const e = raw.trim().toLowerCase().replace(/^\*?\./, '');
    if (e === '*') return true;
    return e !== '' && (h === e || h.endsWith(`.${e}`));
  });
}

/**
 * Which cells the proxy can see at all. In the forward route a NO_PROXY that names the agent's API
 * host makes the agent connect to it directly, around the proxy: such a cell has no requests to
 * compare, so the audit leaves it out and says so.
 */
export function observability(scenario: Scenario, chosen: AuditFactors, dialect: string): (cell: Record<string, string>) => boolean {
  const noProxy = chosen.definitions.get('network.no-proxy');
  const baseUrl = chosen.definitions.get('network.base-url');
  if (scenario.route !== 'forward' || !noProxy || !baseUrl) return () => true;
  return (cell) => {
    const list = cell['network.no-proxy'];
    const url = cell['network.base-url'] !== undefined ? baseUrlFor(baseUrl.values.get(cell['network.base-url']) as Parameters<typeof baseUrlFor>[0], dialect) : undefined;
    return !(list !== undefined && url !== undefined && noProxyExcludes(noProxy.values.get(list) as string, hostnameOf(url)));
  };
}

/** The API family of the scenario's agent: its preset's, or a plain command's by its base-URL variable. */
export function dialectOf(scenario: Scenario): string {
  return 'preset' in scenario.agent ? (scenarioPreset(scenario.agent.preset).dialect as string) : dialectOfVariable(scenario.agent.base_url_var);
}
