import { z } from 'zod';
import { ENV_NAME, envNameProblem, PROXY_URL_AXIS } from './env-names.js';
import { FACTOR_NAME } from './factors/names.js';
import { StubScript } from '../proxy/stub-script-definition.js';
import { stubScriptIssues } from './stub-script.js';

export { ENV_NAME, RESERVED_ENV, envNameProblem, PROXY_URL_AXIS } from './env-names.js';

/**
 * The scenario file format. This schema is the single source of truth: types are inferred from it,
 * docs/scenarios.md describes it, and the resolved form is stored in manifest.json.
 */

// Record keys are checked in superRefine: zod reports a failing record key only as "Invalid key".
const envName = z.string().superRefine((name, ctx) => {
  const problem = envNameProblem(name);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** YAML turns `1`, `true` and bare dates into other types; an env var value is always a string. */
const envValue = z.union([z.string(), z.number(), z.boolean()]).transform(String);

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "120s", "2m", "1500ms", or a number of seconds. Resolves to milliseconds. */
export const Duration = z
  .union([z.number().positive(), z.string().regex(DURATION, 'expected a duration such as "120s", "2m" or "1500ms"')])
  .transform((value) => {
    if (typeof value === 'number') return Math.round(value * 1000);
    const m = DURATION.exec(value.trim());
    return Math.round(Number(m?.[1]) * UNIT_MS[m?.[2] ?? 's']!);
  });

/**
 * An instant ("2026-07-01T12:00:00Z", with Z or an offset: every cell shares it and sees it in its own
 * TZ) or a wall-clock time without zone ("2026-07-01 12:00:00": every cell sees that local time).
 * "real" leaves the clock alone.
 */
const CLOCK = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/;
export const Clock = z.preprocess(
  (value) => (value instanceof Date ? value.toISOString() : value),
  z.union([
    z.literal('real'),
    z.string().regex(CLOCK, 'expected "real" or a date-time such as "2026-07-01T12:00:00Z"'),
  ]),
);

const httpUrl = (what: string) =>
  z.string().refine(
    (value) => {
      try {
        const url = new URL(value);
        return url.protocol === 'http:' || url.protocol === 'https:';
      } catch {
        return false;
      }
    },
    { message: `expected an http:// or https:// URL (${what})` },
  );

const CommandAgent = z.strictObject({
  /** argv of the agent. Arguments starting with ./ or ../ are paths relative to the scenario file. */
  command: z.array(z.string()).min(1, 'expected at least the program to run'),
  /** The variable holding the API base URL (rewritten in reverse route). */
  base_url_var: z.string().regex(ENV_NAME).default('ANTHROPIC_BASE_URL'),
});

const PresetAgent = z.strictObject({
  /** A built-in agent (src/agents/presets.ts), installed at `version` on demand. */
  preset: z.string().min(1),
  version: envValue.optional(),
  /** Extra arguments appended to the preset's command (usually the task). */
  args: z.array(z.string()).default([]),
  base_url_var: z.string().regex(ENV_NAME).optional(),
});

const Design = z.union([
  z.literal('full'),
  z.literal('one-at-a-time'),
  z.strictObject({
    /** Explicit cells: each maps every axis (and proxy_url when used) to one of its values. */
    cells: z.array(z.record(z.string(), envValue)).min(1),
  }),
]);

export const ScenarioSchema = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'expected a short name (letters, digits, . _ -)'),
    description: z.string().optional(),
    agent: z.union([CommandAgent, PresetAgent], {
      error: 'expected either {command: [...]} or {preset: NAME, version?, args?}',
    }),
    /** forward: HTTPS_PROXY + CA env; reverse: the base URL variable points at the proxy. */
    route: z.enum(['forward', 'reverse']).default('forward'),
    upstream: z.enum(['stub', 'passthrough']).default('stub'),
    /** passthrough only: send everything to this URL instead of the host the agent addressed. */
    upstream_url: httpUrl('upstream_url').optional(),
    /** passthrough only: the hosts ("host" or "host:port") requests may go to; others get a 502. */
    passthrough_only: z.array(z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+)(:\d{1,5})?$/, 'expected a host or host:port')).min(1).optional(),
    /** stub only: the assistant text every stub reply carries. */
    stub_text: z.string().optional(),
    /** stub only: model turns the stub plays, one per item (tool calls, then a text turn). */
    stub_script: StubScript.optional(),
    /** Each axis is an environment variable and the values it takes. */
    axes: z.record(z.string(), z.array(envValue).min(1, 'expected at least one value')).default({}),
    /**
     * Machine factors (src/scenario/factors/catalogue.yaml) and the values they take: catalogue value
     * ids, or for kinds with plain values (zones, hostnames…) any value of that kind.
     */
    factors: z.record(z.string(), z.array(envValue).min(1, 'expected at least one value')).default({}),
    /** The proxy URL strings the agent sees (forward route); the port is replaced by the run's listener port. */
    proxy_urls: z.array(httpUrl('proxy_urls')).min(1).optional(),
    repetitions: z.number().int().min(1).max(1000).default(2),
    clock: Clock.default('real'),
    timeout: Duration.default(120_000),
    jobs: z.number().int().min(1).max(256).default(2),
    /** A directory copied to the same path for every run and used as the agent's working directory. */
    workspace: z.string().optional(),
    design: Design.default('full'),
    /** Variation that is expected: a JSON path pattern allowed to follow an axis. */
    expect: z.array(z.strictObject({ path: z.string().min(1), axis: z.string().min(1) })).default([]),
    env: z
      .strictObject({
        /** Extra names copied from the caller's environment (same value in every run). */
        allow: z.array(envName).default([]),
        /** Fixed values set in every run. */
        set: z.record(z.string(), envValue).default({}),
      })
      .default({ allow: [], set: {} }),
    /** Matrices larger than this many runs need --yes. */
    max_runs: z.number().int().min(1).default(500),
  })
  .superRefine((s, ctx) => {
    for (const [where, names] of [
      ['axes', Object.keys(s.axes)],
      ['env.set', Object.keys(s.env.set)],
    ] as const) {
      for (const name of names) {
        const problem = envNameProblem(name);
        if (problem) ctx.addIssue({ code: 'custom', path: [...where.split('.'), name], message: problem });
      }
    }
    if (s.proxy_urls && s.route === 'reverse') {
      ctx.addIssue({ code: 'custom', path: ['proxy_urls'], message: 'only applies to route: forward' });
    }
    if (s.upstream_url && s.upstream !== 'passthrough') {
      ctx.addIssue({ code: 'custom', path: ['upstream_url'], message: 'only applies to upstream: passthrough' });
    }
    if (s.passthrough_only && s.upstream !== 'passthrough') {
      ctx.addIssue({ code: 'custom', path: ['passthrough_only'], message: 'only applies to upstream: passthrough' });
    }
    if (s.stub_script && s.upstream !== 'stub') {
      ctx.addIssue({ code: 'custom', path: ['stub_script'], message: 'only applies to upstream: stub' });
    }
    if (s.stub_script) {
      for (const issue of stubScriptIssues(s.stub_script, 'preset' in s.agent ? s.agent.preset : null))
        ctx.addIssue({ code: 'custom', path: ['stub_script', ...issue.path], message: issue.message });
    }
    for (const name of Object.keys(s.env.set)) {
      if (name in s.axes) {
        ctx.addIssue({ code: 'custom', path: ['env', 'set', name], message: 'is also an axis; set it in one place' });
      }
    }
    for (const name of Object.keys(s.factors)) {
      if (!FACTOR_NAME.test(name)) ctx.addIssue({ code: 'custom', path: ['factors', name], message: 'expected a factor name such as system.timezone (promptdiff factors lists them)' });
    }
    for (const [i, rule] of s.expect.entries()) {
      if (!(rule.axis in designAxes(s))) {
        ctx.addIssue({ code: 'custom', path: ['expect', i, 'axis'], message: `"${rule.axis}" is not an axis` });
      }
    }
    if (typeof s.design === 'object') {
      const axisValues = designAxes(s);
      for (const [i, cell] of s.design.cells.entries()) {
        for (const [axis, values] of Object.entries(axisValues)) {
          if (!(axis in cell)) {
            ctx.addIssue({ code: 'custom', path: ['design', 'cells', i], message: `missing axis ${axis}` });
          } else if (!values.includes(cell[axis]!)) {
            ctx.addIssue({
              code: 'custom',
              path: ['design', 'cells', i, axis],
              message: `"${cell[axis]}" is not one of the values of axis ${axis}`,
            });
          }
        }
        for (const axis of Object.keys(cell)) {
          if (!(axis in axisValues)) {
            ctx.addIssue({ code: 'custom', path: ['design', 'cells', i, axis], message: 'is not an axis' });
          }
        }
      }
    }
  });

export type Scenario = z.output<typeof ScenarioSchema>;
export type ScenarioInput = z.input<typeof ScenarioSchema>;

/**
 * Everything a cell gives a value to, in scenario order: variable axes, then machine factors, then
 * the proxy URLs as the last (pseudo-)axis when given.
 */
export function designAxes(s: { axes: Record<string, string[]>; factors?: Record<string, string[]>; proxy_urls?: string[] }): Record<string, string[]> {
  const out: Record<string, string[]> = { ...s.axes, ...(s.factors ?? {}) };
  if (s.proxy_urls) out[PROXY_URL_AXIS] = s.proxy_urls;
  return out;
}
