import { z } from 'zod';
import type { FactorKind } from './types.js';

const url = z.string().regex(/^https?:\/\/\S+$/, 'expected an http(s) URL');

const Mirrors = z.strictObject({
  npm: url.optional(),
  pip: url.optional(),
  /** A GOPROXY list ("https://goproxy.cn,direct"). */
  go: z.string().min(1).optional(),
  /** A cargo registry index URL ("sparse+https://…" or a git index). */
  cargo: z.string().min(1).optional(),
  docker: url.optional(),
});
type Mirrors = z.infer<typeof Mirrors>;

export const packageMirrors: FactorKind<Mirrors> = {
  kind: 'package-mirrors',
  summary: 'package mirrors configured on the machine: npm, pip, Go, cargo, Docker',
  readers: [
    '~/.npmrc registry= (npm config get registry)',
    '~/.config/pip/pip.conf index-url (pip config list)',
    'GOPROXY (go env GOPROXY)',
    '~/.cargo/config.toml source replacement',
    '/etc/docker/daemon.json registry-mirrors',
  ],
  needs: ['etc'],
  plainValues: false,
  params: Mirrors,
  apply(m, plan) {
    if (m.npm) plan.home['.npmrc'] = `registry=${m.npm}\n`;
    if (m.pip) plan.home['.config/pip/pip.conf'] = `[global]\nindex-url = ${m.pip}\n`;
    if (m.go) plan.env.GOPROXY = m.go;
    if (m.cargo) {
      plan.home['.cargo/config.toml'] = `[source.crates-io]\nreplace-with = "mirror"\n\n[source.mirror]\nregistry = "${m.cargo}"\n`;
    }
    // Present in every cell of the factor (empty when unset), so its absence is not the signal.
    plan.etc['docker/daemon.json'] = { file: `${JSON.stringify(m.docker ? { 'registry-mirrors': [m.docker] } : {}, null, 2)}\n` };
  },
};
