import { z } from 'zod';
import type { FactorKind } from './types.js';

/**
 * Listed so an audit says so out loud: a MAC address reaches programs through netlink and ioctl
 * on the network namespace's interfaces, and a run needs the host's loopback to reach its proxy,
 * so no value can be presented to every reader without a forwarder into a network namespace.
 */
export const macAddress: FactorKind<string> = {
  kind: 'mac-address',
  summary: 'network interface MAC addresses (not variable here: reported as skipped)',
  readers: ['os.networkInterfaces() (getifaddrs/netlink)', '/sys/class/net/*/address', 'ip link'],
  needs: ['unavailable'],
  plainValues: true,
  params: z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, 'expected a MAC address such as 02:42:ac:11:00:02'),
  apply() {
    throw new Error('mac-address factors are never applied');
  },
};
