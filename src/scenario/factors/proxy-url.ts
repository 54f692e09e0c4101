import { isIP } from 'node:net';
import { z } from 'zod';
import { hostnameOf } from '../routing.js';
import type { FactorKind } from './types.js';

/**
 * A hostname reaches the run's proxy listener through the run's hosts file; an IP address other
 * than loopback cannot be sent there without a network namespace and a forwarder, so such a value
 * could only be half-applied and is refused.
 */
function routable(url: string): boolean {
  const host = hostnameOf(url);
  return isIP(host) === 0 || host === '127.0.0.1' || host === '::1';
}

export const proxyUrl: FactorKind<string> = {
  kind: 'proxy-url',
  summary: 'the HTTPS proxy URL the agent is told (forward route; the port becomes the run listener\'s)',
  readers: ['HTTPS_PROXY, HTTP_PROXY, https_proxy, http_proxy'],
  needs: ['forward-route'],
  plainValues: true,
  params: z
    .string()
    .regex(/^https?:\/\/[^\s/]+\/?$/, 'expected an http(s) proxy URL such as http://proxy.example.com:3128')
    .refine(routable, 'a proxy at an IP address other than 127.0.0.1 cannot be routed to the run\'s proxy; give a hostname'),
  apply(value, plan) {
    plan.proxyUrl = value;
  },
};
