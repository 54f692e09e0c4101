// What syncing each capture batch to the disk would cost (docs/reliability.md, Proxy): 300 appends
// of a 50 KB line with writeSync alone (what the proxy does before a response's last bytes go out)
// and with an fdatasync after each. `node bench/fsync-bench.mjs [DIR]` (default: the temp directory).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const dir = path.resolve(process.argv[2] ?? os.tmpdir());
const file = path.join(dir, `promptdiff-fsync-bench-${process.pid}.jsonl`);
const fd = fs.openSync(file, 'a', 0o600);
const line = Buffer.from(`${JSON.stringify({ x: 'y'.repeat(50_000) })}\n`);
const N = 300;

function run(sync) {
  const t = [];
  for (let i = 0; i < N; i++) {
    const t0 = process.hrtime.bigint();
    fs.writeSync(fd, line);
    if (sync) fs.fdatasyncSync(fd);
    t.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  t.sort((a, b) => a - b);
  return `p50 ${t[N >> 1].toFixed(3)} ms, p99 ${t[Math.floor(N * 0.99)].toFixed(3)} ms`;
}

try {
  console.log(`capture append, 50 KB lines, ${dir}: write ${run(false)}; write + fdatasync ${run(true)}`);
} finally {
  fs.closeSync(fd);
  fs.rmSync(file, { force: true });
}
