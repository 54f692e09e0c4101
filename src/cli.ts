#!/usr/bin/env node
import { UsageError, toolVersion } from './cli-support.js';
import { EXIT, UserError } from './errors.js';

const HELP = `promptdiff ${toolVersion()}: catch agents that hide environment-dependent bytes in their prompts

Usage: promptdiff <command> [options]

Commands:
  demo [--out DIR]             run the offline demo scenario (canary agent), diff it and show the findings
  audit SCENARIO [--out DIR]   vary the machine from the factor catalogue in stages: what does the agent's prompt depend on?
  run SCENARIO [--out DIR]     run an agent across a matrix of environments, then diff (see docs/user-guide.md)
  factors [--json]             list the machine-factor catalogue (factors, values, profiles)
  merge OUT DIR...             join shard directories (run --shard K/N) into one run directory
  agents [install NAME@VER]    list agent presets and cached versions / install one into the cache
  bisect SCENARIO --from A     first release of the scenario's agent preset whose findings change
  diff RUN_DIR                 find environment-dependent bytes; writes RUN_DIR/findings.json
  explain RUN_DIR --finding ID the rule that triggers a finding, by reruns on reduced and probed values
  report RUN_DIR               show findings (--format terminal|json|html)
  scan DIR|FILE                screen one run's captures for hidden or look-alike characters (no matrix)
  proxy --out DIR [--port P]   intercepting proxy: record every exchange to DIR/exchanges.jsonl
  env --port P                 print the variables that point a client at the proxy
  har DIR                      export DIR/exchanges.jsonl as HAR 1.2 on stdout
  show DIR [--json]            one line per captured exchange / each exchange as read (bodies as text, parsed view)
  ca init | ca path            create the interception CA / print its certificate's path

Run 'promptdiff <command> --help' for a command's options.
Exit codes: 0 no findings, 1 findings, 2 usage or input error, 3 runs failed or factors not applied.
`;

type Handler = (args: string[]) => Promise<number>;

/** Each command loads only its own modules: \`promptdiff --help\` should not pay for the proxy or the differ. */
const COMMANDS: Record<string, () => Promise<Handler>> = {
  ca: async () => (await import('./commands/capture.js')).cmdCa,
  proxy: async () => (await import('./commands/capture.js')).cmdProxy,
  env: async () => (await import('./commands/capture.js')).cmdEnv,
  har: async () => (await import('./commands/capture.js')).cmdHar,
  show: async () => (await import('./commands/capture.js')).cmdShow,
  run: async () => (await import('./commands/scenario.js')).cmdRun,
  audit: async () => (await import('./commands/audit.js')).cmdAudit,
  factors: async () => (await import('./commands/audit.js')).cmdFactors,
  demo: async () => (await import('./commands/scenario.js')).cmdDemo,
  merge: async () => (await import('./commands/merge.js')).cmdMerge,
  agents: async () => (await import('./commands/agents.js')).cmdAgents,
  bisect: async () => (await import('./commands/bisect.js')).cmdBisect,
  diff: async () => (await import('./commands/findings.js')).cmdDiff,
  report: async () => (await import('./commands/findings.js')).cmdReport,
  scan: async () => (await import('./commands/scan.js')).cmdScan,
  explain: async () => (await import('./commands/explain.js')).cmdExplain,
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return command ? EXIT.ok : EXIT.inputError;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${toolVersion()}\n`);
    return EXIT.ok;
  }
  const load = COMMANDS[command];
  if (!load) throw new UsageError(`unknown command "${command}" (promptdiff --help lists them)`);
  return (await load())(rest);
}

/** "promptdiff: …", once: many messages already name their command ("promptdiff report: …"). */
function userLine(message: string): string {
  return /^promptdiff[ :]/.test(message) ? `${message}\n` : `promptdiff: ${message}\n`;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UserError) {
      process.stderr.write(userLine(err.message));
      process.exitCode = EXIT.inputError;
      return;
    }
    const code = (err as NodeJS.ErrnoException)?.code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'ENOENT') {
      process.stderr.write(`promptdiff: ${(err as Error).message}\n`);
      process.exitCode = EXIT.inputError;
      return;
    }
    process.stderr.write(`promptdiff: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = EXIT.internal;
  },
);
