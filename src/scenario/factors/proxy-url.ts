import { z } from 'zod';
import type { FactorKind } from './types.js';

export const proxyUrl: FactorKind<string> = {
  kind: 'proxy-url',
  summary: 'the HTTPS proxy URL the agent is told (forward route; the port becomes the run listener\'s)',
  readers: ['HTTPS_PROXY, HTTP_PROXY, https_proxy, http_proxy'],
  needs: ['forward-route'],
  plainValues: true,
  params: z.string().regex(/^https?:\/\/[^\s/]+\/?$/, 'expected an http(s) proxy URL such as http://proxy.example.com:3128'),
  apply(value, plan) {
    plan.proxyUrl = value;
  },
};
