import type { z } from 'zod';
import type { DialectName } from '../../capture/schema.js';

/**
 * Machine factors: one property of the machine an agent could read (its time zone, hostname, git
 * e-mail…), varied between cells like an environment-variable axis.
 *
 * What a kind *is* (its name, what it needs, how programs read it, the shape of its values) is
 * plain data in FactorKind; what it *does* is `apply`, which only describes the run's machine in a
 * MachinePlan. Nothing here touches the disk: `scenario/machine.ts` makes a plan real for one run.
 */

/** What making a value real takes; a factor whose needs are not met here is skipped, never half-applied. */
export type Need =
  /** a private /etc view (an overlay, or a copy bind-mounted over /etc) inside the run's mount namespace */
  | 'etc'
  /** its own UTS namespace (hostname) */
  | 'uts'
  /** a private /home (a tmpfs) so HOME can live at /home/<user> */
  | 'home'
  /** git on the host, to make the workspace a repository */
  | 'git'
  /** libfaketime, to pin a per-cell clock */
  | 'clock'
  /** the forward route (the agent is told a proxy URL) */
  | 'forward-route'
  /** something no namespace can present: the factor is always reported as not variable here */
  | 'unavailable';

/** An entry of the run's /etc view, relative to /etc. */
export type EtcEntry = { file: string } | { symlink: string } | { absent: true };

/**
 * Everything one run's machine differs in from the host, as the factors of its cell (and the
 * neutral defaults) describe it. Later factors win on the same key; the cell's factors never share keys.
 */
export interface MachinePlan {
  /** Variables to set (below the scenario's env.set and axes, above the runner's defaults). */
  env: Record<string, string>;
  /** Runner defaults to drop (TZ: a desktop has no TZ variable; the zone comes from /etc/localtime). */
  unsetEnv: string[];
  /** The run's /etc view: path relative to /etc → what it holds. */
  etc: Record<string, EtcEntry>;
  /** Files written into the run's fresh HOME (path relative to HOME). */
  home: Record<string, string>;
  /** Files written into the run's copy of the workspace (path relative to it). */
  workspace: Record<string, string>;
  /** Make the workspace a git repository whose `origin` is this URL. */
  gitRemote?: string;
  /** Kernel hostname inside the run's UTS namespace. */
  hostname?: string;
  /** uid 0 inside the namespace takes this name; HOME moves to /home/<name>. */
  user?: { name: string; gecos: string };
  /**
   * Host files outside /etc to show with other contents (bind-mounted over them when they exist on
   * the host; a path the host lacks stays absent in every cell alike).
   */
  overlays: Record<string, string>;
  /** The pinned clock of this cell (overrides the scenario's `clock`). */
  clock?: string;
  /** The proxy URL string the agent is told (forward route), like the `proxy_url` pseudo-axis. */
  proxyUrl?: string;
  /** The API base URL the agent is told. */
  baseUrl?: string;
  /** Things a reader of the run directory should know about how values were applied. */
  notes: string[];
}

export function emptyPlan(): MachinePlan {
  return { env: {}, unsetEnv: [], etc: {}, home: {}, workspace: {}, overlays: {}, notes: [] };
}

export interface ApplyContext {
  /** The API family of the agent: base-URL values differ per dialect. */
  dialect: Exclude<DialectName, 'unknown'>;
  route: 'forward' | 'reverse';
}

export interface FactorKind<P = unknown> {
  /** The name used in catalogue entries (`kind: timezone`). */
  kind: string;
  /** One line for `promptdiff factors` and docs/audit.md. */
  summary: string;
  /** Every way a program reads this property that `apply` covers (for users and for the unit tests). */
  readers: string[];
  needs: Need[];
  /**
   * The parameters of one value. `plainValues`: a value is a string (a zone name, a hostname) that
   * the scenario may also give directly; otherwise the catalogue names parameter sets by id.
   */
  plainValues: boolean;
  params: z.ZodType<P>;
  /** Describes the run's machine with this value; throws FactorValueError for a value it cannot make real. */
  apply(params: P, plan: MachinePlan, ctx: ApplyContext): void;
  /**
   * The strings a program that reads this value could copy into a prompt, beyond the value's own
   * strings (every string in its parameters): the differ calls a change made of them an echo.
   */
  shows?(params: P): string[];
}

/** A value that is well formed but cannot be made real here (a zone the host's tzdata lacks). */
export class FactorValueError extends Error {
  override name = 'FactorValueError';
}
