import { isSecretName, SecretValues, urlPasswords } from '../capture/secret-values.js';
import type { Manifest, SecretsRecord } from './manifest.js';
import { PROXY_URL_AXIS, type Scenario } from './schema.js';

/**
 * Which values of a scenario are secrets, and how a manifest (or audit.json) is written without
 * them. The runner keeps the clear values in memory only; everything it writes goes through here.
 */
export interface ScenarioSecrets {
  secrets: SecretValues;
  /** Where the scenario holds a secret (`env.set.ANTHROPIC_API_KEY`, `proxy_urls[0]`): recorded, and named on resume. */
  fields: string[];
  keep: boolean;
}

export function scenarioSecrets(scenario: Pick<Scenario, 'env' | 'axes' | 'factors' | 'proxy_urls'>, keep: boolean): ScenarioSecrets {
  const values: string[] = [];
  const fields: string[] = [];
  for (const [name, value] of Object.entries(scenario.env.set)) {
    if (isSecretName(name)) {
      values.push(value);
      fields.push(`env.set.${name}`);
    }
  }
  for (const [name, list] of Object.entries(scenario.axes)) {
    if (!isSecretName(name)) continue;
    list.forEach((value, i) => {
      values.push(value);
      fields.push(`axes.${name}[${i}]`);
    });
  }
  for (const [i, url] of (scenario.proxy_urls ?? []).entries()) {
    const passwords = urlPasswords(url);
    if (passwords.length) {
      values.push(...passwords);
      fields.push(`proxy_urls[${i}]`);
    }
  }
  // A proxy URL given as a machine factor value: redacted the same way, but not part of the key,
  // so an audit (which picks factor values itself) tags like the scenario it was given.
  const factorPasswords: string[] = [];
  for (const [name, list] of Object.entries(scenario.factors ?? {})) {
    list.forEach((value, i) => {
      const passwords = urlPasswords(value);
      if (passwords.length) {
        factorPasswords.push(...passwords);
        fields.push(`factors.${name}[${i}]`);
      }
    });
  }
  const secrets = new SecretValues(keep ? [] : values, !keep);
  for (const p of factorPasswords) secrets.add(p);
  return { secrets, fields: keep ? [] : fields, keep };
}

/** A serialized scenario as written down: secret-named variables and design cells tagged, every string searched. */
export function redactScenarioRecord(record: Record<string, unknown>, secrets: SecretValues): Record<string, unknown> {
  if (!secrets.enabled) return record;
  const out: Record<string, unknown> = { ...record };
  const env = record.env as { allow?: unknown; set?: Record<string, string> } | undefined;
  if (env?.set) out.env = { ...env, set: secrets.env(env.set) };
  const axes = record.axes as Record<string, string[]> | undefined;
  if (axes) out.axes = redactAxes(axes, secrets);
  const design = record.design as { cells?: Array<Record<string, string>> } | string | undefined;
  if (design && typeof design === 'object' && Array.isArray(design.cells)) {
    out.design = { ...design, cells: design.cells.map((c) => redactCellValues(c, secrets)) };
  }
  return secrets.deep(out);
}

function redactAxes(axes: Record<string, string[]>, secrets: SecretValues): Record<string, string[]> {
  return Object.fromEntries(Object.entries(axes).map(([name, values]) => [name, isSecretName(name) ? values.map((v) => secrets.add(v)) : values]));
}

function redactCellValues(values: Record<string, string>, secrets: SecretValues): Record<string, string> {
  // proxy_url values are URLs: text() redacts their user info; the name test is for variables.
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, k !== PROXY_URL_AXIS && isSecretName(k) ? secrets.add(v) : v]));
}

/** manifest.json as written: scenario, axes, cells, factor definitions, run environments and messages without secrets. */
export function redactManifest(manifest: Manifest, s: ScenarioSecrets): Manifest {
  const record: SecretsRecord = { policy: s.keep ? 'kept' : 'redacted', fields: s.fields };
  if (!s.secrets.enabled) return { ...manifest, secrets: record };
  const { secrets } = s;
  return secrets.deep({
    ...manifest,
    scenario: redactScenarioRecord(manifest.scenario, secrets),
    axes: redactAxes(manifest.axes, secrets),
    cells: manifest.cells.map((c) => ({ ...c, values: redactCellValues(c.values, secrets) })),
    runs: manifest.runs.map((r) => ({ ...r, env: secrets.env(r.env) })),
    secrets: record,
  });
}
