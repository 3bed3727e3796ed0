// Seals the secrets the publish stage must keep across restarts (a webhook's
// signing secret, an SSF push receiver's Authorization header) before they
// are written to the store, so that a reader of the database — an analyst
// with SELECT, a backup, a log of queries — never sees them in clear.
//
// AES-256-GCM with a random 96-bit nonce per value. The caller's context
// (e.g. `webhook:<tenant>:<id>`) is bound in as additional authenticated
// data: a sealed value copied into another row does not open there.
//
// The key: RISKSTREAM_STATE_KEY (32 bytes, base64), which every instance
// sharing one ClickHouse must be given; else `<dataDir>/state.key`, created
// once (fine for one instance on one machine).

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readOrCreateKeyFile } from '../config/key-file.js';

const VERSION = 'v1';
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export const STATE_KEY_FILE = 'state.key';

export class StateCipher {
  readonly #key: Buffer;

  constructor(key: Uint8Array) {
    if (key.length !== KEY_BYTES) throw new RangeError(`state key must be ${KEY_BYTES} bytes, got ${key.length}`);
    this.#key = Buffer.from(key);
  }

  /** `v1.<base64 of nonce | tag | ciphertext>` of `plain`, bound to `context`. */
  seal(plain: string, context: string): string {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `${VERSION}.${Buffer.concat([nonce, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  /** The plain text of a sealed value; throws when it was sealed under another key or context, or altered. */
  open(sealed: string, context: string): string {
    const dot = sealed.indexOf('.');
    if (dot < 0 || sealed.slice(0, dot) !== VERSION) throw new Error('sealed value: unknown format');
    const raw = Buffer.from(sealed.slice(dot + 1), 'base64');
    if (raw.length < NONCE_BYTES + TAG_BYTES) throw new Error('sealed value: too short');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, NONCE_BYTES));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(raw.subarray(NONCE_BYTES, NONCE_BYTES + TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(raw.subarray(NONCE_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new Error('sealed value: does not open with this key and context (wrong RISKSTREAM_STATE_KEY, or altered)');
    }
  }
}

/** Decodes RISKSTREAM_STATE_KEY: base64 of exactly 32 bytes; throws naming the variable otherwise. */
export function parseStateKey(text: string): Buffer {
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== KEY_BYTES || key.toString('base64') !== text.trim()) {
    throw new Error(`RISKSTREAM_STATE_KEY must be ${KEY_BYTES} bytes in base64 (e.g. from \`openssl rand -base64 32\`)`);
  }
  return key;
}

/** The cipher of `key` (from the environment) when given, else of `<dataDir>/state.key`, created when absent. */
export async function loadStateCipher(opts: { dataDir: string; key?: string | undefined }): Promise<StateCipher> {
  if (opts.key !== undefined && opts.key.trim() !== '') return new StateCipher(parseStateKey(opts.key));
  const text = await readOrCreateKeyFile(opts.dataDir, STATE_KEY_FILE, () => randomBytes(KEY_BYTES).toString('base64'));
  return new StateCipher(parseStateKey(text));
}
