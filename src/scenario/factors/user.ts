import { z } from 'zod';
import type { FactorKind } from './types.js';

const LOGIN = /^[a-z_][a-z0-9_-]{0,31}$/;

export const user: FactorKind<string> = {
  kind: 'user',
  summary: "the user's login name and home directory (/home/NAME)",
  readers: [
    'getpwuid(getuid()): os.userInfo(), id -un, whoami (uid 0 inside the namespace is named NAME in its /etc/passwd)',
    'USER and LOGNAME',
    'HOME=/home/NAME (os.homedir()), and the passwd entry\'s home directory',
  ],
  needs: ['etc', 'home'],
  plainValues: true,
  params: z.string().regex(LOGIN, 'expected a login name (lower-case letters, digits, _ and -, at most 32)'),
  shows: (value) => [value, `/home/${value}`],
  apply(value, plan) {
    plan.user = { name: value, gecos: value };
    plan.env.USER = value;
    plan.env.LOGNAME = value;
  },
};
