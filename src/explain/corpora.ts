import { existsSync, readFileSync } from 'node:fs';
import { ZONEINFO } from '../scenario/factors/timezone.js';
import { API_HOSTS } from './hosts.js';

/**
 * The natural universes of some axes, read from the system or shipped here: every IANA zone name
 * of the system's tzdata (zones and links: links such as PRC are names a machine can have), every
 * locale glibc supports, and well-known API hosts of model providers, clouds and gateways.
 */

const TZDATA = `${ZONEINFO}/tzdata.zi`;

export interface ZoneCorpus {
  version: string;
  zones: string[];
}

/** Zone and link names from tzdata.zi (else zone1970.tab and backward), those with a file here. */
export function systemZones(): ZoneCorpus {
  let text = '';
  try {
    text = readFileSync(TZDATA, 'utf8');
  } catch {
    return { version: 'unknown', zones: tabZones() };
  }
  const version = /^#\s*version\s+(\S+)/m.exec(text)?.[1] ?? 'unknown';
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const f = line.split(/\s+/);
    if (f[0] === 'Z' && f[1]) names.add(f[1]);
    else if (f[0] === 'L' && f[2]) names.add(f[2]);
  }
  return { version, zones: [...names].filter((z) => existsSync(`${ZONEINFO}/${z}`)).sort() };
}

function tabZones(): string[] {
  try {
    return readFileSync(`${ZONEINFO}/zone1970.tab`, 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split('\t')[2]!)
      .filter((z) => z && existsSync(`${ZONEINFO}/${z}`))
      .sort();
  } catch {
    return [];
  }
}

const SUPPORTED = '/usr/share/i18n/SUPPORTED';

/** glibc's list of supported locales (the names LANG can take), e.g. zh_CN.UTF-8, ug_CN. */
export function supportedLocales(): string[] {
  try {
    return readFileSync(SUPPORTED, 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(/\s+/)[0]!)
      .filter(Boolean);
  } catch {
    return [];
  }
}

/** API hosts as base URLs. */
export function apiHostUrls(): string[] {
  return API_HOSTS.map((h) => `https://${h.host}`);
}
