import { z } from 'zod';
import type { FactorKind } from './types.js';

export const noProxy: FactorKind<string> = {
  kind: 'no-proxy',
  summary: 'the proxy exclusion list NO_PROXY (hosts and domains reached directly)',
  readers: ['NO_PROXY and no_proxy'],
  needs: [],
  plainValues: true,
  params: z.string().regex(/^[^\s]*$/, 'expected a comma-separated list without spaces'),
  apply(value, plan) {
    plan.env.NO_PROXY = value;
    plan.env.no_proxy = value;
  },
};
