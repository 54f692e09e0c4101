import { isIP } from 'node:net';
import { z } from 'zod';
import type { FactorKind } from './types.js';

const Resolver = z.strictObject({
  nameservers: z.array(z.string().refine((ip) => isIP(ip) !== 0, 'expected an IP address')).min(1),
  search: z.array(z.string().min(1)).optional(),
  options: z.array(z.string().min(1)).optional(),
});
type Resolver = z.infer<typeof Resolver>;

export const resolver: FactorKind<Resolver> = {
  kind: 'resolver',
  summary: 'the DNS resolver configuration: /etc/resolv.conf',
  readers: ['/etc/resolv.conf (glibc, c-ares in Node, Go, Python)'],
  needs: ['etc'],
  plainValues: false,
  params: Resolver,
  apply(r, plan) {
    const lines = r.nameservers.map((ip) => `nameserver ${ip}`);
    if (r.search?.length) lines.push(`search ${r.search.join(' ')}`);
    if (r.options?.length) lines.push(`options ${r.options.join(' ')}`);
    plan.etc['resolv.conf'] = { file: `${lines.join('\n')}\n` };
  },
};
