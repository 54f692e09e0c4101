import { installAgent, isExactVersion, resolveVersion, type InstalledAgent, type InstallOptions } from './install.js';

/** The proxy variables every HTTP stack we know of reads (some only the lower-case spelling). */
export function proxyVars(proxyUrl: string): Record<string, string> {
  return { HTTPS_PROXY: proxyUrl, HTTP_PROXY: proxyUrl, https_proxy: proxyUrl, http_proxy: proxyUrl };
}

export function installer(name: string, npmPackage: string) {
  return async (version: string, options: InstallOptions = {}): Promise<InstalledAgent> => {
    const exact = isExactVersion(version) ? version : await resolveVersion(npmPackage, version, options);
    return installAgent({ name, npmPackage, version: exact }, options);
  };
}
