import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';

/**
 * Whether a plain `agent.command` can still be run as recorded: its program on PATH (or at its
 * path) and every absolute path among its arguments (a script such as the canary's) still there.
 * Null when it can; otherwise what is missing.
 */
export function commandProblem(argv: string[], searchPath = process.env.PATH ?? ''): string | null {
  const [program, ...args] = argv;
  if (!program) return 'the command is empty';
  const runnable = (file: string) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (program.includes('/')) {
    if (!runnable(program)) return `${program} is missing or not executable`;
  } else if (!searchPath.split(path.delimiter).some((dir) => dir && runnable(path.join(dir, program)))) {
    return `${program} is not on PATH`;
  }
  const gone = args.find((a) => path.isAbsolute(a) && !existsSync(a));
  return gone ? `${gone} no longer exists` : null;
}
