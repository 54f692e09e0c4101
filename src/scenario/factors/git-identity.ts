import { z } from 'zod';
import type { FactorKind } from './types.js';

const IDENTITY = /^([^<>\n]+?)\s*<([^<>\s@]+@[^<>\s@]+)>$/;

export function parseIdentity(value: string): { name: string; email: string } | null {
  const m = IDENTITY.exec(value.trim());
  return m ? { name: m[1]!, email: m[2]! } : null;
}

export const gitIdentity: FactorKind<string> = {
  kind: 'git-identity',
  summary: "git's user.name and user.email in ~/.gitconfig",
  readers: ['git config user.name / user.email (and anything git writes: commits)', 'parsing ~/.gitconfig directly'],
  needs: [],
  plainValues: true,
  params: z.string().refine((v) => parseIdentity(v) !== null, 'expected "Full Name <user@example.com>"'),
  shows(value) {
    const id = parseIdentity(value);
    return id ? [id.name, id.email] : [];
  },
  apply(value, plan) {
    const { name, email } = parseIdentity(value)!;
    plan.home['.gitconfig'] = `[user]\n\tname = ${name}\n\temail = ${email}\n`;
  },
};
