// Configuration of the publish stage, read from the environment (the shared
// config/ module is owned elsewhere; this reads only the variables below).
//
//   RISKSTREAM_PUBLIC_URL                  public base URL of the API = SSF issuer (default http://127.0.0.1:8080)
//   RISKSTREAM_SSF_SIGNING_KEY             RSA private key, PEM (PKCS8 or PKCS1); default: <data>/ssf-signing-key.pem
//   RISKSTREAM_OUTBOUND_ALLOWED_HOSTS      hosts webhooks and SSF push may call: "hooks.example.com,*.corp.example"
//   RISKSTREAM_PUBLISH_TRANSACTIONAL_ID    Kafka transactional id of this instance (default riskstream-publish-0)
//   RISKSTREAM_PUBLISH_PARTITIONS          partitions of agent-risk and detections when created (default 1)
//   RISKSTREAM_WEBHOOK_MAX_ATTEMPTS        attempts per webhook delivery (default 5)
//   RISKSTREAM_WEBHOOK_DISABLE_AFTER       consecutive failed deliveries before a hook is disabled (default 5)
//   RISKSTREAM_SSF_PUSH_MAX_ATTEMPTS       attempts per pushed SET (default 8)
//   RISKSTREAM_STATE_KEY                   32 bytes, base64: seals webhook secrets and SSF receiver credentials in the store
//                                          (default: <data>/state.key; instances sharing a store need the same key)

import { ConfigError } from '../config/index.js';
import { HostAllowlist } from './allowlist.js';
import { parseStateKey } from './state-cipher.js';

export interface PublishConfig {
  publicUrl: string;
  ssfSigningKeyPem: string | undefined;
  outboundAllowedHosts: string[];
  transactionalId: string;
  partitions: number;
  webhookMaxAttempts: number;
  webhookDisableAfter: number;
  ssfPushMaxAttempts: number;
  /** RISKSTREAM_STATE_KEY (validated), or undefined for the key file in the data directory. */
  stateKey: string | undefined;
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(name, `must be an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  return n;
}

export function loadPublishConfig(env: Env = process.env): PublishConfig {
  const publicUrl = (env.RISKSTREAM_PUBLIC_URL || 'http://127.0.0.1:8080').replace(/\/$/, '');
  try {
    const u = new URL(publicUrl);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('scheme');
    if (u.search || u.hash) throw new Error('query');
  } catch {
    throw new ConfigError('RISKSTREAM_PUBLIC_URL', `must be an http(s) URL without query or fragment, got ${JSON.stringify(publicUrl)}`);
  }
  const hosts = (env.RISKSTREAM_OUTBOUND_ALLOWED_HOSTS ?? '').split(/[\s,]+/).filter(Boolean);
  try {
    new HostAllowlist(hosts);
  } catch (err) {
    throw new ConfigError('RISKSTREAM_OUTBOUND_ALLOWED_HOSTS', (err as Error).message);
  }
  const transactionalId = env.RISKSTREAM_PUBLISH_TRANSACTIONAL_ID || 'riskstream-publish-0';
  const stateKey = env.RISKSTREAM_STATE_KEY || undefined;
  if (stateKey !== undefined) {
    try {
      parseStateKey(stateKey);
    } catch (err) {
      throw new ConfigError('RISKSTREAM_STATE_KEY', (err as Error).message.replace(/^RISKSTREAM_STATE_KEY /, ''));
    }
  }
  return {
    publicUrl,
    ssfSigningKeyPem: env.RISKSTREAM_SSF_SIGNING_KEY || undefined,
    outboundAllowedHosts: hosts,
    transactionalId,
    partitions: int(env, 'RISKSTREAM_PUBLISH_PARTITIONS', 1, 1, 1000),
    webhookMaxAttempts: int(env, 'RISKSTREAM_WEBHOOK_MAX_ATTEMPTS', 5, 1, 50),
    webhookDisableAfter: int(env, 'RISKSTREAM_WEBHOOK_DISABLE_AFTER', 5, 1, 1000),
    ssfPushMaxAttempts: int(env, 'RISKSTREAM_SSF_PUSH_MAX_ATTEMPTS', 8, 1, 50),
    stateKey,
  };
}
