import path from 'node:path';
import { UsageError, parse } from '../cli-support.js';
import { mergeShards } from '../scenario/shards.js';
import { EXIT } from '../errors.js';

const MERGE_HELP = `Usage: promptdiff merge OUT DIR...

  Joins the shard directories DIR... (written by  promptdiff run SCENARIO --shard K/N --out DIR)
  into one run directory OUT that  promptdiff diff OUT  treats exactly like an unsharded run.
  Checks that every DIR ran the same scenario, that no run has two different results, and that
  every run of the matrix is there; capture files are hard-linked (copied across file systems).

  --copy    copy files instead of hard-linking them
  --json    print the result as JSON on stdout

Exit codes: 0 merged, 2 input error (different scenarios, conflicting runs, OUT not empty),
3 runs missing (nothing written; the message names them and their shard) or some merged run failed.
`;

export async function cmdMerge(args: string[]): Promise<number> {
  const { values, positionals } = parse('merge', args, { copy: { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean' } });
  if (values.help) {
    process.stdout.write(MERGE_HELP);
    return EXIT.ok;
  }
  if (positionals.length < 2) throw new UsageError('promptdiff merge: give the output directory and at least one shard directory: promptdiff merge OUT DIR...');
  const [out, ...dirs] = positionals as [string, ...string[]];
  const result = await mergeShards({ outDir: path.resolve(out), dirs: dirs.map((d) => path.resolve(d)), copy: values.copy });
  if (values.json) {
    const { manifest, ...rest } = result;
    process.stdout.write(`${JSON.stringify({ ...rest, runs: manifest?.runs.length ?? 0 }, null, 2)}\n`);
  }
  for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
  if (!values.json) (result.manifest ? process.stdout : process.stderr).write(`${result.message}\n`);
  else if (!result.manifest) process.stderr.write(`${result.message}\n`);
  return result.exitCode;
}
