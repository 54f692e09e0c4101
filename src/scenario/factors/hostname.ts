import { z } from 'zod';
import type { FactorKind } from './types.js';

/** RFC 1123: labels of letters, digits and inner hyphens, at most 63 each, 253 in all. */
const LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

export function isHostname(value: string): boolean {
  return value.length <= 253 && value.split('.').every((label) => LABEL.test(label));
}

export const hostname: FactorKind<string> = {
  kind: 'hostname',
  summary: "the machine's hostname, in its own UTS namespace",
  readers: ['gethostname(): os.hostname(), uname -n, hostname', '/etc/hostname', '/etc/hosts (127.0.1.1 NAME, as Debian writes it)'],
  needs: ['uts', 'etc'],
  plainValues: true,
  params: z.string().refine(isHostname, 'expected a hostname (RFC 1123 labels: letters, digits, inner hyphens)'),
  apply(value, plan) {
    plan.hostname = value;
    plan.etc.hostname = { file: `${value}\n` };
  },
};
