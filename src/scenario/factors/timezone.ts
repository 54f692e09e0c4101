import { existsSync } from 'node:fs';
import { z } from 'zod';
import type { FactorKind } from './types.js';

export const ZONEINFO = '/usr/share/zoneinfo';

/** `Asia/Shanghai`: the zone as a desktop has it (TZ unset); `TZ=Asia/Shanghai`: the variable is set as well. */
const ZONE_VALUE = /^(TZ=)?([A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*)$/;

export function parseZoneValue(value: string): { zone: string; tzVar: boolean } | null {
  const m = ZONE_VALUE.exec(value);
  return m ? { zone: m[2]!, tzVar: Boolean(m[1]) } : null;
}

export const timezone: FactorKind<string> = {
  kind: 'timezone',
  summary: 'the system time zone: /etc/localtime, /etc/timezone, and TZ unset (or set, as TZ=ZONE)',
  readers: [
    'readlink /etc/localtime (Node/ICU and glibc with TZ unset, timedatectl, Python tzlocal)',
    '/etc/timezone (Debian tools, Java)',
    'the TZ variable (unset, as on a desktop; set for a TZ=ZONE value)',
  ],
  needs: ['etc'],
  plainValues: true,
  params: z.string().superRefine((value, ctx) => {
    const parsed = parseZoneValue(value);
    if (!parsed) ctx.addIssue({ code: 'custom', message: `"${value}": expected a zone name such as Asia/Shanghai, or TZ=Asia/Shanghai` });
    else if (!existsSync(`${ZONEINFO}/${parsed.zone}`)) {
      ctx.addIssue({ code: 'custom', message: `"${parsed.zone}": no such zone in ${ZONEINFO} (tzdata) on this machine` });
    }
  }),
  shows: (value) => [parseZoneValue(value)?.zone ?? value],
  apply(value, plan) {
    const { zone, tzVar } = parseZoneValue(value)!;
    // A symlink, not a copy: readlink is how Node (ICU) and most libraries learn the zone's name.
    plan.etc.localtime = { symlink: `${ZONEINFO}/${zone}` };
    plan.etc.timezone = { file: `${zone}\n` };
    if (tzVar) plan.env.TZ = zone;
    else plan.unsetEnv.push('TZ');
  },
};
