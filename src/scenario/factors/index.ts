import { baseUrl } from './base-url.js';
import { clock } from './clock.js';
import { env } from './env.js';
import { gitIdentity } from './git-identity.js';
import { gitRemote } from './git-remote.js';
import { hostname } from './hostname.js';
import { locale } from './locale.js';
import { macAddress } from './mac-address.js';
import { machineId } from './machine-id.js';
import { noProxy } from './no-proxy.js';
import { osRelease } from './os-release.js';
import { packageMirrors } from './package-mirrors.js';
import { proxyUrl } from './proxy-url.js';
import { resolver } from './resolver.js';
import { timezone } from './timezone.js';
import { user } from './user.js';
import { workspaceFiles } from './workspace-files.js';
import type { FactorKind } from './types.js';

export type { FactorKind, MachinePlan, Need, EtcEntry, ApplyContext } from './types.js';
export { emptyPlan, FactorValueError } from './types.js';

/** Every factor kind. Adding a kind is one module and one entry here (and its values in catalogue.yaml). */
export const FACTOR_KINDS: readonly FactorKind<any>[] = [
  env,
  timezone,
  locale,
  hostname,
  user,
  gitIdentity,
  gitRemote,
  packageMirrors,
  resolver,
  osRelease,
  machineId,
  clock,
  baseUrl,
  proxyUrl,
  noProxy,
  workspaceFiles,
  macAddress,
];

const BY_NAME = new Map(FACTOR_KINDS.map((k) => [k.kind, k]));

export function factorKind(name: string): FactorKind<unknown> | undefined {
  return BY_NAME.get(name);
}
