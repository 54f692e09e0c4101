import {
  AGENT_PRESETS,
  AgentInstallError,
  agentCacheRoot,
  listInstalled,
  parseAgentSpec,
  type AgentPreset,
  type InstalledAgent,
} from '../agents/index.js';
import { UsageError, parse } from '../cli-support.js';
import { EXIT } from '../errors.js';

const AGENTS_HELP = `Usage: promptdiff agents [--json]
       promptdiff agents install NAME[@VERSION]... [--json]

  agents            list the built-in agent presets (npm package, API dialect, versions verified
                    here) and the versions in the agent cache
  agents install    install exact versions into the agent cache (reused, integrity-checked);
                    VERSION may be latest (the default), a range (^2.1.0) or an exact version

  The cache is ~/.cache/promptdiff/agents ($XDG_CACHE_HOME respected; PROMPTDIFF_AGENT_CACHE
  overrides it). Scenarios install their agent.version on demand; this command pre-fetches.

Exit codes: 0 done, 2 unknown preset or version, 3 an install failed.
`;

function verified(p: AgentPreset): string {
  if (p.status.verified.length === 0) return 'none yet';
  return p.status.verified.map((v) => `${v.version} (${v.routes.join('+')})`).join(', ');
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

async function list(json: boolean): Promise<number> {
  const cacheRoot = agentCacheRoot();
  const cached = await listInstalled(cacheRoot);
  const presets = Object.values(AGENT_PRESETS);
  if (json) {
    const out = {
      cacheRoot,
      presets: presets.map((p) => ({ name: p.name, npmPackage: p.npmPackage, dialect: p.dialect, baseUrlVar: p.baseUrlVar, status: p.status })),
      cached: cached.map((c) => ({
        name: c.name,
        version: c.version,
        dir: c.dir,
        integrity: c.marker?.integrity ?? null,
        installedAt: c.marker?.installedAt ?? null,
      })),
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return EXIT.ok;
  }
  const lines = [
    table([['preset', 'npm package', 'dialect', 'verified here (routes)'], ...presets.map((p) => [p.name, p.npmPackage, p.dialect, verified(p)])]),
    '',
    `cached in ${cacheRoot}:`,
  ];
  if (cached.length === 0) lines.push('  (nothing yet: promptdiff agents install claude-code@2.1.112)');
  else {
    lines.push(
      table(
        cached.map((c) => [
          `  ${c.name}@${c.version}`,
          c.marker ? c.marker.installedAt.slice(0, 10) : '?',
          c.marker ? (c.marker.integrity ?? 'no integrity recorded') : 'no install marker (damaged: reinstalled on next use)',
        ]),
      ),
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return EXIT.ok;
}

async function install(specs: string[], json: boolean): Promise<number> {
  if (specs.length === 0) throw new UsageError('promptdiff agents install: name what to install, e.g. claude-code@2.1.112');
  const parsed = specs.map((spec) => {
    try {
      return parseAgentSpec(spec);
    } catch (err) {
      throw new UsageError(`promptdiff agents install: ${(err as Error).message}`);
    }
  });
  const results: InstalledAgent[] = [];
  for (const { preset, version } of parsed) {
    let r: InstalledAgent;
    try {
      r = await preset.install(version, { onProgress: (line) => process.stderr.write(`${line}\n`) });
    } catch (err) {
      if (!(err instanceof AgentInstallError)) throw err;
      process.stderr.write(`promptdiff: ${err.message}\n`);
      return err.kind === 'unknown' ? EXIT.inputError : EXIT.runsFailed;
    }
    results.push(r);
    if (!json) {
      process.stdout.write(
        `${r.name}@${r.version} ${r.fromCache ? 'already cached' : 'installed'} in ${(r.durationMs / 1000).toFixed(1)} s\n` +
          `  dir        ${r.dir}\n  integrity  ${r.integrity ?? '(none recorded)'}\n`,
      );
    }
  }
  if (json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  return EXIT.ok;
}

export async function cmdAgents(args: string[]): Promise<number> {
  const { values, positionals } = parse('agents', args, { json: { type: 'boolean' }, help: { type: 'boolean' } });
  if (values.help) {
    process.stdout.write(AGENTS_HELP);
    return EXIT.ok;
  }
  const [sub, ...rest] = positionals;
  if (sub === undefined || sub === 'list') {
    if (rest.length > 0) throw new UsageError(`promptdiff agents: unexpected ${rest.join(' ')}`);
    return list(Boolean(values.json));
  }
  if (sub === 'install') return install(rest, Boolean(values.json));
  throw new UsageError(`promptdiff agents: unknown subcommand "${sub}" (list, install)`);
}
