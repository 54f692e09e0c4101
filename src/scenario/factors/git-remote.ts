import { z } from 'zod';
import type { FactorKind } from './types.js';

/** https://host/path.git or the scp-like git@host:path form. */
const REMOTE = /^(https?:\/\/[^\s/]+\/\S+|ssh:\/\/\S+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:\S+)$/;

export const gitRemote: FactorKind<string> = {
  kind: 'git-remote',
  summary: "the workspace's git remote (origin): the workspace becomes a repository with one fixed commit",
  readers: ['git remote -v, git config remote.origin.url', 'parsing .git/config directly'],
  needs: ['git'],
  plainValues: true,
  params: z.string().regex(REMOTE, 'expected a git URL (https://host/path.git or git@host:path.git)'),
  apply(value, plan) {
    plan.gitRemote = value;
  },
};
