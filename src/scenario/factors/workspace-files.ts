import path from 'node:path';
import { z } from 'zod';
import type { FactorKind } from './types.js';

const relative = z.string().refine((p) => p !== '' && !path.isAbsolute(p) && !p.split(/[\\/]/).includes('..'), 'expected a path inside the workspace');

const Files = z.strictObject({ files: z.record(relative, z.string()) });
type Files = z.infer<typeof Files>;

export const workspaceFiles: FactorKind<Files> = {
  kind: 'workspace-files',
  summary: "files in the agent's workspace (e.g. the language its README is written in)",
  readers: ['reading the workspace: its files, their language'],
  needs: [],
  plainValues: false,
  params: Files,
  apply(f, plan) {
    Object.assign(plan.workspace, f.files);
  },
};
