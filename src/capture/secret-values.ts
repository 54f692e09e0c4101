import { createHash, createHmac, randomBytes } from 'node:crypto';

/**
 * Redaction by value. A secret is found by its name once (a variable called *_API_KEY, a proxy
 * URL's password); from then on its value is replaced wherever it appears: in manifests, captures,
 * the agent's output, findings and log lines. Each value becomes a tag `[redacted:1a2b3c4d]`, an
 * HMAC of the value, so two different secrets stay two different values for the differ (two cells
 * whose API keys differ are still two cells) while neither is written down.
 *
 * The HMAC key is derived from every secret value the scenario itself holds (env.set, axes, proxy
 * URLs): no key file to keep or lose, the same tags on every shard and every resume of one
 * scenario, and a tag cannot be checked against a guess without guessing all those secrets at
 * once. A scenario whose only secret is a short password gives that password no more protection
 * than its own strength (docs/reliability.md).
 */

export const REDACTED = '[redacted]';
const TAG_PREFIX = '[redacted:';
const TAG = /^\[redacted:[0-9a-f]{8}\]$/;
/** Tags and plain markers already in a text: a replacement never reaches inside them. */
const PROTECTED = String.raw`\[redacted(?::[0-9a-f]{8})?\]`;

/**
 * Values shorter than this are redacted where they are stored as values (a variable, an axis value,
 * a URL's password) but not searched for inside other text, where they would hit ordinary words.
 */
export const MIN_SEARCHED_LENGTH = 8;

// Substrings that mark a credential; AUTH(?!OR) keeps GIT_AUTHOR_NAME, TOKEN(?!S) keeps MAX_TOKENS.
const SECRET_PART = /KEY|TOKEN(?!S)|SECRET|PASSW|CREDENTIAL|COOKIE|AUTH(?!OR)/i;
// Whole words between underscores: GITHUB_PAT_X, DB_PASS, SMTP_PW.
const SECRET_WORD = /(?:^|_)(?:PAT|PASS|PWD|PW|JWT)(?:_|$)/i;
/** The working directory, not a password. */
const NOT_SECRET = new Set(['PWD', 'OLDPWD']);

/** Whether a variable's name says its value is a credential. */
export function isSecretName(name: string): boolean {
  if (NOT_SECRET.has(name.toUpperCase())) return false;
  return SECRET_PART.test(name) || SECRET_WORD.test(name);
}

/*
 * A JSON field's name is judged by its words, not its substrings: request bodies are full of
 * names like max_tokens, input_tokens, tokenizer, keywords or passage that a variable would
 * rarely carry, and a body field redacted by mistake hides a value the differ must see.
 */
const SECRET_FIELD_WORDS = new Set(['key', 'apikey', 'token', 'secret', 'password', 'passwd', 'pwd', 'passphrase', 'credential', 'credentials']);

/** Whether a JSON field of this name holds a credential ("api_key", "accessToken", "client_secret", "x-api-key"). */
export function isSecretField(name: string): boolean {
  if (name.length < 3 || !/key|token|secret|pass|pwd|credential/i.test(name)) return false;
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  return words.some((w) => SECRET_FIELD_WORDS.has(w)) || SECRET_FIELD_WORDS.has(words.join(''));
}

export function isTag(value: string): boolean {
  return value === REDACTED || TAG.test(value);
}

/**
 * `scheme://user:password@` anywhere in a text. Quotes, backslashes and angle brackets end the
 * match so a JSON line or HTML is never cut across two strings.
 */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@:"'\\<>]*):([^\s/?#@"'\\<>]+)@/gi;

/** The passwords of every URL with user info in `text`. */
export function urlPasswords(text: string): string[] {
  return [...text.matchAll(USERINFO)].map((m) => m[3]!).filter((p) => !isTag(p));
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** The forms a value takes on disk: as is, inside a JSON string, and either read back as latin1. */
function forms(value: string): string[] {
  const json = JSON.stringify(value).slice(1, -1);
  const latin1 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
  return [...new Set([value, json, latin1(value), latin1(json)])];
}

export class SecretValues {
  private readonly key: Buffer;
  /** Tag → value, for putting a scenario's own values back on resume. */
  private readonly byTag = new Map<string, string>();
  /** Searched form → tag. */
  private readonly searched = new Map<string, string>();
  private pattern: RegExp | null = null;
  /** The searched forms as bytes (latin1), for line(); rebuilt when a value is added. */
  private searchedBytes: Map<string, Buffer> | null = null;

  /**
   * @param keyValues the secret values the scenario holds (the HMAC key is derived from them)
   * @param enabled false for --keep-secrets: every method then returns its input
   */
  constructor(
    keyValues: readonly string[],
    readonly enabled = true,
    key?: Buffer,
  ) {
    const material = [...new Set(keyValues)].sort().join('\0');
    this.key = key ?? createHash('sha256').update(`promptdiff secret tags v1\0${material}`).digest();
    for (const v of keyValues) this.add(v);
  }

  static disabled(): SecretValues {
    return new SecretValues([], false);
  }

  /**
   * For a proxy with no scenario (`promptdiff proxy`): nothing to derive a key from, so the key is
   * random and lives as long as the process. Equal secrets get equal tags within one proxy
   * session's captures; two sessions tag the same secret differently, and nobody can check a tag
   * against a guess.
   */
  static forSession(): SecretValues {
    return new SecretValues([], true, randomBytes(32));
  }

  /** The tag standing for `value` (a tag stays itself). */
  tag(value: string): string {
    if (!this.enabled || isTag(value)) return value;
    const tag = `${TAG_PREFIX}${createHmac('sha256', this.key).update(value).digest('hex').slice(0, 8)}]`;
    this.byTag.set(tag, value);
    return tag;
  }

  /** Registers a secret value: from now on it is replaced wherever it appears. Returns its tag. */
  add(value: string): string {
    const tag = this.tag(value);
    if (this.enabled && value.length >= MIN_SEARCHED_LENGTH && !isTag(value)) {
      for (const form of forms(value)) {
        if (!this.searched.has(form)) {
          this.searched.set(form, tag);
          this.pattern = null;
        }
      }
    }
    return tag;
  }

  /**
   * A capture line (UTF-8 bytes) with every registered value replaced by its tag, as the proxy
   * writes it: the same replacement the runner's pass over a finished run makes (text() over the
   * bytes read as latin1), so a capture holds tags from its first write on, even when the run never
   * finishes. Searched as bytes first: most lines hold no value and are returned as they are, uncopied.
   * URL passwords are left to that pass (finding them means a regular expression over every line).
   */
  line(bytes: Buffer): Buffer {
    if (!this.enabled || this.searched.size === 0) return bytes;
    if (this.searchedBytes?.size !== this.searched.size) this.searchedBytes = new Map([...this.searched.keys()].map((f) => [f, Buffer.from(f, 'latin1')]));
    let present = false;
    for (const b of this.searchedBytes.values()) {
      if (bytes.indexOf(b) >= 0) {
        present = true;
        break;
      }
    }
    if (!present) return bytes;
    const text = bytes.toString('latin1');
    this.pattern ??= this.searchPattern();
    return Buffer.from(text.replace(this.pattern, (match, kept: string | undefined) => kept ?? this.searched.get(match) ?? match), 'latin1');
  }

  /** Whether any value was registered for searching (else text() only redacts URL user info). */
  get searching(): boolean {
    return this.searched.size > 0;
  }

  /** `text` with every registered value and every URL password replaced by its tag. */
  text(text: string): string {
    if (!this.enabled || text.length === 0) return text;
    // Cheap tests first: most text holds no URL with user info and none of the values.
    let out = text.includes('://') && text.includes('@')
      ? text.replace(USERINFO, (whole, scheme: string, user: string, password: string) =>
          isTag(password) ? whole : `${scheme}${user}:${this.add(password)}@`,
        )
      : text;
    if (this.searched.size === 0) return out;
    let present = false;
    for (const form of this.searched.keys()) {
      if (out.includes(form)) {
        present = true;
        break;
      }
    }
    if (!present) return out;
    this.pattern ??= this.searchPattern();
    out = out.replace(this.pattern, (match, kept: string | undefined) => kept ?? this.searched.get(match) ?? match);
    return out;
  }

  /** Tags and plain markers (kept as they are), then every searched form, longest first. */
  private searchPattern(): RegExp {
    return new RegExp(
      `(${PROTECTED})|${[...this.searched.keys()]
        .sort((a, b) => b.length - a.length)
        .map(escapeRegExp)
        .join('|')}`,
      'g',
    );
  }

  /** Every string in a JSON-like value through text(); object keys are names and stay. */
  deep<T>(value: T): T {
    if (!this.enabled) return value;
    return mapStrings(value, (s) => this.text(s)) as T;
  }

  /** The environment as written down: secret-named values tagged, the rest searched. */
  env(env: Record<string, string>): Record<string, string> {
    if (!this.enabled) return { ...env };
    const named = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, isSecretName(k) ? this.add(v) : v]));
    return Object.fromEntries(Object.entries(named).map(([k, v]) => [k, this.text(v)]));
  }

  /** Puts back the values behind the tags this instance made (a resumed manifest, in memory only). */
  restore<T>(value: T): T {
    if (this.byTag.size === 0) return value;
    const tags = new RegExp([...this.byTag.keys()].map(escapeRegExp).join('|'), 'g');
    return mapStrings(value, (s) => (s.includes(TAG_PREFIX) ? s.replace(tags, (t) => this.byTag.get(t) ?? t) : s)) as T;
  }
}

/** Tags left in a value: what restore() could not put back. */
export function tagsIn(value: unknown): string[] {
  const found = new Set<string>();
  mapStrings(value, (s) => {
    for (const m of s.matchAll(/\[redacted:[0-9a-f]{8}\]/g)) found.add(m[0]);
    return s;
  });
  return [...found];
}

function mapStrings(value: unknown, f: (s: string) => string): unknown {
  if (typeof value === 'string') return f(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, f));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, mapStrings(v, f)]));
  }
  return value;
}
