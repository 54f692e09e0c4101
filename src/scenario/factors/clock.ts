import { z } from 'zod';
import type { FactorKind } from './types.js';

export const clock: FactorKind<string> = {
  kind: 'clock',
  summary: 'the pinned wall-clock instant (libfaketime), e.g. a date before or after a cut-off',
  readers: ['time(), clock_gettime(CLOCK_REALTIME): Date.now(), date'],
  needs: ['clock'],
  plainValues: true,
  params: z.string().refine((v) => /(Z|[+-]\d{2}:?\d{2})$/.test(v) && !Number.isNaN(Date.parse(v)), 'expected an instant such as 2026-07-01T12:00:00Z'),
  apply(value, plan) {
    plan.clock = value;
  },
};
