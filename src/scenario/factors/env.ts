import { z } from 'zod';
import { envNameProblem } from '../env-names.js';
import type { FactorKind } from './types.js';

const Vars = z.record(z.string(), z.string()).superRefine((vars, ctx) => {
  for (const name of Object.keys(vars)) {
    const problem = envNameProblem(name);
    if (problem) ctx.addIssue({ code: 'custom', path: [name], message: problem });
  }
});

export const env: FactorKind<Record<string, string>> = {
  kind: 'env',
  summary: 'a set of environment variables (terminal, CI, input method markers)',
  readers: ['process.env / getenv()'],
  needs: [],
  plainValues: false,
  params: Vars,
  apply(vars, plan) {
    Object.assign(plan.env, vars);
  },
};
