import { z } from 'zod';
import type { FactorKind } from './types.js';

const OsRelease = z.strictObject({
  os_release: z.string().min(1),
  /** Absent: the distribution has no /etc/lsb-release, and neither does the run. */
  lsb_release: z.string().min(1).optional(),
});
type OsRelease = z.infer<typeof OsRelease>;

export const osRelease: FactorKind<OsRelease> = {
  kind: 'os-release',
  summary: 'the distribution: /etc/os-release and /etc/lsb-release',
  readers: ['/etc/os-release (systemd, Python platform.freedesktop_os_release, most agents)', '/etc/lsb-release (lsb_release, older tools)'],
  needs: ['etc'],
  plainValues: false,
  params: OsRelease,
  apply(r, plan) {
    const withNewline = (s: string) => (s.endsWith('\n') ? s : `${s}\n`);
    plan.etc['os-release'] = { file: withNewline(r.os_release) };
    plan.etc['lsb-release'] = r.lsb_release ? { file: withNewline(r.lsb_release) } : { absent: true };
  },
};
