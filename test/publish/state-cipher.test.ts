// Sealing secrets at rest (AES-256-GCM bound to a context), and where the key
// comes from: RISKSTREAM_STATE_KEY, else a key file created once, mode 0600.

import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../config/index.js';
import { loadPublishConfig } from '../../publish/config.js';
import { loadStateCipher, StateCipher, STATE_KEY_FILE } from '../../publish/state-cipher.js';

const SECRET = 'whsec_4f9b2c0d8e7a6b5c4d3e2f1a0b9c8d7e';

describe('StateCipher', () => {
  const cipher = new StateCipher(randomBytes(32));

  it('opens what it sealed, and never shows the plain text', () => {
    const a = cipher.seal(SECRET, 'webhook:t1:h1');
    const b = cipher.seal(SECRET, 'webhook:t1:h1');
    expect(a).toMatch(/^v1\./);
    expect(a).not.toContain(SECRET);
    expect(a).not.toBe(b); // a fresh nonce each time
    expect(cipher.open(a, 'webhook:t1:h1')).toBe(SECRET);
    expect(cipher.open(b, 'webhook:t1:h1')).toBe(SECRET);
    expect(cipher.open(cipher.seal('', 'c'), 'c')).toBe('');
  });

  it('refuses another context, another key, and any altered byte', () => {
    const sealed = cipher.seal(SECRET, 'webhook:t1:h1');
    expect(() => cipher.open(sealed, 'webhook:t2:h1')).toThrow(/does not open/);
    expect(() => new StateCipher(randomBytes(32)).open(sealed, 'webhook:t1:h1')).toThrow(/does not open/);
    const raw = Buffer.from(sealed.slice(3), 'base64');
    for (const i of [0, 12, 20, raw.length - 1]) {
      const bent = Buffer.from(raw);
      bent[i]! ^= 1;
      expect(() => cipher.open(`v1.${bent.toString('base64')}`, 'webhook:t1:h1'), `byte ${i}`).toThrow(/does not open/);
    }
    expect(() => cipher.open('v2.AAAA', 'x')).toThrow(/unknown format/);
    expect(() => cipher.open('v1.AAAA', 'x')).toThrow(/too short/);
    expect(() => new StateCipher(randomBytes(16))).toThrow(/32 bytes/);
  });
});

describe('loadStateCipher', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('creates the key file once, readable only by its owner, and reuses it', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'riskstream-state-key-'));
    const first = await loadStateCipher({ dataDir: dir });
    const file = path.join(dir, STATE_KEY_FILE);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const sealed = first.seal(SECRET, 'ctx');
    const again = await loadStateCipher({ dataDir: dir });
    expect(again.open(sealed, 'ctx')).toBe(SECRET);
    expect(Buffer.from((await readFile(file, 'utf8')).trim(), 'base64')).toHaveLength(32);
  });

  it('takes RISKSTREAM_STATE_KEY over the file, and refuses a key that is not 32 bytes of base64', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'riskstream-state-key-'));
    const key = randomBytes(32).toString('base64');
    const sealed = new StateCipher(Buffer.from(key, 'base64')).seal(SECRET, 'ctx');
    expect((await loadStateCipher({ dataDir: dir, key })).open(sealed, 'ctx')).toBe(SECRET);
    await expect(stat(path.join(dir, STATE_KEY_FILE))).rejects.toThrow(/ENOENT/);
    for (const bad of [randomBytes(16).toString('base64'), 'not base64 at all!', `${key}x`]) {
      await expect(loadStateCipher({ dataDir: dir, key: bad })).rejects.toThrow(/RISKSTREAM_STATE_KEY must be 32 bytes/);
      expect(() => loadPublishConfig({ RISKSTREAM_STATE_KEY: bad })).toThrow(ConfigError);
      expect(() => loadPublishConfig({ RISKSTREAM_STATE_KEY: bad })).toThrow(/^RISKSTREAM_STATE_KEY: must be 32 bytes/);
    }
    expect(loadPublishConfig({ RISKSTREAM_STATE_KEY: key }).stateKey).toBe(key);
    expect(loadPublishConfig({}).stateKey).toBeUndefined();
  });
});
