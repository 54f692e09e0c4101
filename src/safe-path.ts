import path from 'node:path';

/** Whether `target` is `root` itself or lies below it (both absolute and already resolved). */
export function isWithin(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}
