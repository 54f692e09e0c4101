/** A factor name: lower-case words joined by dots (`system.timezone`), never an environment variable name. */
export const FACTOR_NAME = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$/;
