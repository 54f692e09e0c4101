import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startProxy, type ProxyOptions, type RunningProxy } from '../../src/proxy/server.js';
import { readExchanges } from '../../src/capture/store.js';
import type { ExchangeRecord } from '../../src/capture/schema.js';
import type { AgentEnvContext, AgentPreset, InstalledAgent } from '../../src/agents/index.js';
import { log } from '../../src/log.js';

/*
 * What the real-agent tests share: one proxy with the stub upstream, one run listener per agent
 * run (so each run's exchanges land in a directory of their own), a fresh empty HOME prepared by
 * the preset, and a clean environment holding nothing of the developer's (keys, proxies, CAs).
 */

export interface AgentRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  records: ExchangeRecord[];
}

export interface RunOptions {
  route: AgentEnvContext['route'];
  baseUrl?: string;
  prompt?: string;
  /** Rewrites the preset's argv (program first), e.g. to drop a flag. */
  argv?: (argv: string[]) => string[];
  /** Overrides on top of the preset's variables (undefined removes one). */
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
}

export class AgentE2E {
  proxy!: RunningProxy;
  installed!: InstalledAgent;
  private dirs: string[] = [];
  private count = 0;

  constructor(
    readonly preset: AgentPreset,
    readonly version: string,
    /** On top of the stub proxy's defaults (e.g. passthrough to a local upstream). */
    private readonly proxyOptions: Partial<ProxyOptions> = {},
  ) {}

  async start(): Promise<void> {
    log.level = process.env.PROMPTDIFF_LOG_LEVEL ?? 'silent';
    const certsDir = await this.tmp('certs');
    this.proxy = await startProxy({ outDir: await this.tmp('main'), certsDir, ...this.proxyOptions });
    this.installed = await this.preset.install(this.version);
  }

  async close(): Promise<void> {
    await this.proxy?.close();
    for (const d of this.dirs) await rm(d, { recursive: true, force: true });
  }

  private async tmp(what: string): Promise<string> {
    const d = await mkdtemp(path.join(tmpdir(), `pd-agents-e2e-${this.preset.name}-${what}-`));
    this.dirs.push(d);
    return d;
  }

  async run(o: RunOptions): Promise<AgentRun> {
    const runId = `${this.preset.name}-${o.route}-${++this.count}`;
    const captureDir = await this.tmp('run');
    const listener = await this.proxy.addRunListener(runId, captureDir);
    const home = await this.tmp('home');
    const ctx: AgentEnvContext = { route: o.route, proxyUrl: listener.url, caCertPath: this.proxy.caCertPath, ...(o.baseUrl ? { baseUrl: o.baseUrl } : {}) };
    await this.preset.prepareHome(home, ctx);
    const env: Record<string, string | undefined> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', ...this.preset.env(ctx), ...o.env };
    for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
    let argv = this.preset.command(this.installed.dir, o.prompt ?? 'Say hello.', [], ctx);
    if (o.argv) argv = o.argv(argv);
    const [program, ...args] = argv;
    const t0 = performance.now();
    // Its own process group: Codex's node launcher spawns the Rust binary, which keeps stdout open
    // (and keeps running) when only the launcher is killed.
    const child = spawn(program!, args, { cwd: home, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const kill = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(kill, o.timeoutMs ?? RUN_TIMEOUT_MS);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c, s) => resolve([c, s]));
    });
    clearTimeout(timer);
    const ms = Math.round(performance.now() - t0);
    await this.proxy.removeRunListener(runId);
    const { records } = await readExchanges(captureDir);
    if (process.env.PROMPTDIFF_E2E_VERBOSE) process.stderr.write(`${this.preset.name}@${this.installed.version} ${o.route}${o.baseUrl ? ` ${o.baseUrl}` : ''}: ${summary({ code, signal, stdout, stderr, ms, records })}\n`);
    return { code, signal, stdout, stderr, ms, records };
  }
}

/** Generous: a loaded 2-core machine has taken 30 s for one Qwen Code run. */
export const RUN_TIMEOUT_MS = 120_000;

function summary(r: AgentRun): string {
  return `exit ${r.code ?? r.signal} after ${r.ms} ms, ${r.records.length} exchanges: ${r.records
    .map((x) => `${x.request.method} ${x.request.url} (${x.request.body?.size ?? 0} B)`)
    .join(', ')}`;
}

/** What to read when a run fails: the agent's own words and every exchange it made. */
export function explain(r: AgentRun): string {
  const lines = r.records.map(
    (x) =>
      `  ${x.route} ${x.tunnel?.target ?? '-'} ${x.request.method} ${x.request.url} → ${x.response?.status ?? 'no response'} ${x.errors.map((e) => e.message).join('; ')}`,
  );
  return [`exit ${r.code ?? r.signal} after ${r.ms} ms`, `stdout: ${r.stdout.slice(0, 2000)}`, `stderr: ${r.stderr.slice(0, 3000)}`, `exchanges (${r.records.length}):`, ...lines].join(
    '\n',
  );
}

/** Every host:port the run opened a CONNECT tunnel to (forward route), sorted. */
export function tunnelTargets(r: AgentRun): string[] {
  return [...new Set(r.records.map((x) => x.tunnel?.target ?? '(none)'))].sort();
}
