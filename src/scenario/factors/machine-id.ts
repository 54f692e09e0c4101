import { z } from 'zod';
import type { FactorKind } from './types.js';

export const machineId: FactorKind<string> = {
  kind: 'machine-id',
  summary: "the machine's D-Bus/systemd id: /etc/machine-id and /var/lib/dbus/machine-id",
  readers: ['/etc/machine-id (systemd, node-machine-id, Go machineid)', '/var/lib/dbus/machine-id (D-Bus; bind-mounted when the host has it)'],
  needs: ['etc'],
  plainValues: true,
  params: z.string().regex(/^[0-9a-f]{32}$/, 'expected 32 lower-case hex digits'),
  apply(value, plan) {
    plan.etc['machine-id'] = { file: `${value}\n` };
    plan.overlays['/var/lib/dbus/machine-id'] = `${value}\n`;
  },
};
