import { expect } from 'vitest';
import type { ExchangeRecord } from '../../src/capture/schema.js';
import type { AgentPreset } from '../../src/agents/index.js';
import { DEFAULT_STUB_TEXT } from '../../src/proxy/server.js';
import { AgentE2E, explain, type AgentRun } from './agent-e2e.js';
import { startHttpsUpstream, type HttpsUpstream } from './https-upstream.js';

/*
 * A real agent in passthrough, the way a researcher points it at the real API, with a local HTTPS
 * server standing in for the API: the CONNECT tunnel's bytes are relayed as sent and the records
 * come from the tap. NO_PROXY is cleared so the agent tunnels to 127.0.0.1 through the proxy, and
 * only 127.0.0.1 may be reached (--passthrough-only): anything else the agent calls is answered
 * 502 by the proxy and never leaves the machine.
 */
export class RelayE2E {
  upstream!: HttpsUpstream;
  private agent!: AgentE2E;

  constructor(
    readonly preset: AgentPreset,
    readonly version: string,
  ) {}

  async start(): Promise<void> {
    this.upstream = await startHttpsUpstream();
    this.agent = new AgentE2E(this.preset, this.version, { upstream: 'passthrough', upstreamCa: this.upstream.caPath, passthroughOnly: ['127.0.0.1'] });
    await this.agent.start();
  }

  async close(): Promise<void> {
    await this.agent?.close();
    await this.upstream?.close();
  }

  /** The local upstream's origin. */
  get base(): string {
    return `https://127.0.0.1:${this.upstream.port}`;
  }

  /** One forward-route run with the base URL at the local upstream (plus `path`). */
  run(path = ''): Promise<AgentRun> {
    return this.agent.run({ route: 'forward', baseUrl: this.base + path, env: { NO_PROXY: undefined, no_proxy: undefined } });
  }

  /**
   * Every call went through the tunnel to the local upstream and was recorded with its answer (the
   * streamed ones with their assembled text); what reached the upstream is what was recorded for
   * it, one for one; anything else was refused.
   */
  expectRelayed(r: AgentRun, calls: ExchangeRecord[], streamed: ExchangeRecord[] = calls): void {
    const target = `127.0.0.1:${this.upstream.port}`;
    for (const c of calls) {
      expect(c.tunnel?.target, explain(r)).toBe(target);
      expect(c.response?.source, explain(r)).toBe('upstream');
    }
    for (const c of streamed) expect(c.response?.assembledText, explain(r)).toBe(DEFAULT_STUB_TEXT);
    const local = r.records.filter((x) => x.tunnel?.target === target);
    expect(local.map((x) => `${x.request.method} ${x.request.path}`).sort(), explain(r)).toEqual([...this.upstream.seen].sort());
    for (const x of r.records.filter((y) => !local.includes(y))) {
      expect(x.response, explain(r)).toBeNull();
      expect(x.errors.map((e) => e.message).join(), explain(r)).toMatch(/is not allowed \(--passthrough-only 127\.0\.0\.1\)/);
    }
  }
}
