import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUNTIME_ENV } from '../../src/scenario/env-names.js';
import { validateScenario } from '../../src/scenario/scenario-file.js';
import type { Manifest } from '../../src/scenario/manifest.js';
import { runCli } from '../helpers/cli.js';

// Issue 10 row 12: variables that change how the agent's runtime loads code or trusts TLS.
// Policy (docs/scenarios.md, "Reserved variables"): the runner's own are refused; these are run,
// with a warning printed and kept in manifest.json.
const here = path.dirname(fileURLToPath(import.meta.url));
const tinyAgent = path.join(here, '..', 'fixtures', 'scenario', 'tiny-agent.mjs');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pd-faults-runtime-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('reserved variables (issue 10 #12)', () => {
  it('the list covers what the issue found accepted silently', () => {
    for (const name of ['NODE_OPTIONS', 'LD_AUDIT', 'LD_LIBRARY_PATH', 'NODE_TLS_REJECT_UNAUTHORIZED']) expect(RUNTIME_ENV[name], name).toBeTruthy();
  });

  it('the runner-owned ones are refused with the field named', () => {
    for (const name of ['LD_PRELOAD', 'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'HTTPS_PROXY']) {
      expect(() => validateScenario({ name: 'x', agent: { command: ['node', 'a.mjs'] }, env: { set: { [name]: 'v' } } }, 'x.yaml')).toThrow(
        new RegExp(`env\\.set\\.${name}: is set by the runner itself`),
      );
    }
  });

  it('NODE_OPTIONS, LD_LIBRARY_PATH, NODE_TLS_REJECT_UNAUTHORIZED run, each with a warning on stderr and in manifest.json', async () => {
    const file = path.join(dir, 'runtime.json');
    await writeFile(
      file,
      JSON.stringify({
        name: 'runtime',
        agent: { command: ['node', tinyAgent] },
        route: 'reverse',
        repetitions: 1,
        axes: { LD_LIBRARY_PATH: ['/opt/a', '/opt/b'] },
        env: { set: { NODE_OPTIONS: '--max-old-space-size=256' }, allow: ['NODE_TLS_REJECT_UNAUTHORIZED'] },
      }),
    );
    const out = path.join(dir, 'out');
    const r = await runCli(['run', file, '--out', out, '--certs', path.join(dir, 'certs'), '--no-diff'], { NODE_TLS_REJECT_UNAUTHORIZED: '1' });
    expect(r.code, r.stderr).toBe(0);
    const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8')) as Manifest;
    const warnings = manifest.isolation!.warnings;
    expect(warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^env\.set\.NODE_OPTIONS loads code into Node before the agent/),
        expect.stringMatching(/^axes\.LD_LIBRARY_PATH changes which shared libraries programs load/),
        expect.stringMatching(/^env\.allow\.NODE_TLS_REJECT_UNAUTHORIZED turns off TLS certificate checks in Node/),
      ]),
    );
    for (const w of warnings.filter((x) => /NODE_OPTIONS|LD_LIBRARY_PATH|NODE_TLS/.test(x))) expect(r.stderr).toContain(w);
    expect(manifest.runs.every((run) => run.status === 'ok')).toBe(true);
    expect(manifest.runs[0]!.env.NODE_OPTIONS).toBe('--max-old-space-size=256');
  });
});
