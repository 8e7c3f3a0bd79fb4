import { createHash, randomBytes } from 'node:crypto';

/** Tenant that owns everything when no tenant was named (bootstrap keys, keyless servers, old data). */
export const DEFAULT_TENANT_ID = 'default';

export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** RFC 6750 token68: the only characters a bearer token can carry. */
export const BEARER_TOKEN_PATTERN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Ids and names that look like a uuid (any case): names of this shape would be ambiguous with ids. */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const SECRET_BYTES = 32;
const PREFIX_CHARS = 8;
const PREFIX_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

export interface IssuedKey {
  /** The public, loggable part: `rk_<8 chars>`. */
  id: string;
  /** The whole key, shown once: `rk_<8 chars>_<43 base64url chars>`. */
  key: string;
  hash: string;
}

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** A fresh key: 32 random bytes of secret behind a random visible prefix. */
export function issueKey(): IssuedKey {
  const prefixBytes = randomBytes(PREFIX_CHARS);
  let prefix = '';
  for (const b of prefixBytes) prefix += PREFIX_ALPHABET[b % PREFIX_ALPHABET.length];
  const id = `rk_${prefix}`;
  const key = `${id}_${randomBytes(SECRET_BYTES).toString('base64url')}`;
  return { id, key, hash: hashKey(key) };
}
