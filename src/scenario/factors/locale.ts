import { execFileSync } from 'node:child_process';
import { z } from 'zod';
import type { FactorKind } from './types.js';

const LOCALE = /^([a-z]{2,3}|C|POSIX)(_[A-Z]{2})?(\.[A-Za-z0-9-]+)?(@[A-Za-z0-9]+)?$/;

let available: Set<string> | null = null;

/** glibc's compiled locales (`locale -a`), normalised the way glibc compares them (utf8 = UTF-8). */
function compiledLocales(): Set<string> {
  if (available) return available;
  try {
    const out = execFileSync('locale', ['-a'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
    available = new Set(out.split('\n').filter(Boolean).map(normalise));
  } catch {
    available = new Set();
  }
  return available;
}

function normalise(locale: string): string {
  return locale.replace(/\.(.*)$/, (_, cs: string) => `.${cs.toLowerCase().replace(/-/g, '')}`);
}

export const locale: FactorKind<string> = {
  kind: 'locale',
  summary: 'the system locale: LANG and LANGUAGE, /etc/default/locale, /etc/locale.conf',
  readers: [
    'LANG (Node/ICU Intl default locale, Python locale, glibc setlocale)',
    'LANGUAGE (gettext message catalogues)',
    '/etc/default/locale (Debian, Ubuntu) and /etc/locale.conf (systemd distributions)',
  ],
  needs: ['etc'],
  plainValues: true,
  params: z.string().regex(LOCALE, 'expected a locale such as zh_CN.UTF-8'),
  apply(value, plan) {
    const [, lang, region = ''] = LOCALE.exec(value)!;
    plan.env.LANG = value;
    // gettext's priority list; the C locale has no catalogues to choose from.
    if (lang !== 'C' && lang !== 'POSIX') plan.env.LANGUAGE = region ? `${lang}${region}:${lang}` : lang!;
    plan.etc['default/locale'] = { file: `LANG=${value}\n` };
    plan.etc['locale.conf'] = { file: `LANG=${value}\n` };
    if (!value.startsWith('C.') && !compiledLocales().has(normalise(value))) {
      plan.notes.push(
        `${value}: glibc on this machine has no compiled data for it (locale -a), so C programs calling setlocale() fall back to C; ICU (Node) and the files see it (install locales-all to change that)`,
      );
    }
  },
};
