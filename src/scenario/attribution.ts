import { readFile } from 'node:fs/promises';
import path from 'node:path';

export interface Attribution {
  /** Exchanges found in the run's capture file. */
  count: number;
  /** Empty when every record belongs to the run and the proxy's count agrees. */
  problems: string[];
}

/**
 * Checks that the run's capture file holds exactly the exchanges the proxy attributed to the run:
 * every record tagged with this run id and as many as the proxy counted. The differ trusts this.
 */
export async function verifyAttribution(captureDir: string, runId: string, proxyCount: number): Promise<Attribution> {
  let text = '';
  try {
    text = await readFile(path.join(captureDir, 'exchanges.jsonl'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const problems: string[] = [];
  let count = 0;
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    count += 1;
    try {
      const record = JSON.parse(line) as { run?: unknown };
      if (record.run !== runId) problems.push(`exchanges.jsonl:${i + 1} is tagged run ${JSON.stringify(record.run)}`);
    } catch {
      problems.push(`exchanges.jsonl:${i + 1} is not valid JSON`);
    }
  }
  if (count !== proxyCount) problems.push(`the proxy counted ${proxyCount} exchanges but the capture file holds ${count}`);
  return { count, problems };
}

/** Lines in a capture file (0 when absent): for the exchanges no run listener received. */
export async function countLines(file: string): Promise<number> {
  try {
    return (await readFile(file, 'utf8')).split('\n').filter((l) => l.trim() !== '').length;
  } catch {
    return 0;
  }
}
