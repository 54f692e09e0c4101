/** The CA module: the authority and leaf certificates (authority.ts), its directory's permissions (permissions.ts). */
export * from './authority.js';
