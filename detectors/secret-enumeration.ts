// Detector 19 — secret-enumeration: an agent reads a secrets store (Azure Key
// Vault, AWS Secrets Manager or Parameter Store, Google Secret Manager, a
// HashiCorp Vault) far faster than it and its blueprint ever do (T1555.006
// Credentials from Password Stores: Cloud Secrets Management Stores).
//
// An attacker running code in an agent's runtime (a poisoned dependency, an
// injected tool call) uses the agent's own token from the agent's own host to
// list and read every secret it can reach: the host, the resource, the token
// and the address are all the agent's, only the rate is not. An agent reads
// its few secrets at start-up and on rotation; a few hundred reads in minutes
// is a dump.
//
// Per agent that calls a secrets store: calls to secret stores over a sliding
// 10 minutes (five 2-minute sub-windows), and the highest completed 10-minute
// count it had at least an hour ago (its peak, decaying with a half-life of
// 3 days: a weekly rotation job is remembered; a burst does not raise its own
// bar); per blueprint, the highest peak of its agents.
// Rule: at least 50 calls within 10 minutes, 10× the agent's own peak and 5×
// its blueprint's (once it has called secret stores for an hour; before that
// 10× its blueprint's) → medium; without any baseline (a new blueprint), 200
// calls. The blueprint's peak is its busiest agent's: at 10× one busy peer
// would hide a dump by every quiet one. From 20 calls over that bar, under
// the medium floor: low (a smaller vault read whole;
// with another finding the agent rises). When 2 other
// agents of the blueprint went over their thresholds within 10 minutes, it is
// a rollout (every pod reading its secrets at start-up): low; and when 4
// other agents of it went over their bars (low or medium) within 10 minutes:
// the whole blueprint misbehaving at once (a secret cache misconfigured to
// re-read on every request, every pod hammering the vault a little, the
// quickest over the floor first). Once per agent
// per hour; windows of an agent that fired in the last hour do not raise its
// peak.
//
// The counting is CallBurstWatch's (call-burst.ts), shared with mass-send.
//
// State: only for agents that call secret stores (a few numbers each); per
// blueprint a peak and its latest bursts.

import type { NetworkEvent } from '../contract/events.js';
import type { Detection, DetectorMeta } from './types.js';
import type { Detector } from './detector.js';
import { CallBurstWatch, burstFinding, callBurstDetector, type BurstVerdict, type CallBurstOptions } from './call-burst.js';
import { memoByHost } from './host-memo.js';

/** See CallBurstOptions (call-burst.ts); every field optional. */
export type SecretEnumerationOptions = Partial<CallBurstOptions>;

const DEFAULTS: CallBurstOptions = {
  windowMs: 10 * 60_000,
  minCalls: 50,
  lowCalls: 20,
  factor: 10,
  peerFactor: 5,
  noBaselineCalls: 200,
  peakHalfLifeMs: 3 * 24 * 3_600_000,
  learnMs: 60 * 60_000,
  rolloutWindowMs: 10 * 60_000,
  rolloutAgents: 2,
  refireMs: 60 * 60_000,
  maxAgents: 1_000_000,
  wideAgents: 4,
};

/** Hosts of cloud secret stores, by suffix; and a self-hosted HashiCorp Vault named `vault.<domain>`. */
const SECRET_STORE_SUFFIXES = ['.vault.azure.net', '.vault.usgovcloudapi.net', '.vault.azure.cn', '.managedhsm.azure.net', 'secretmanager.googleapis.com'];
const AWS_SECRET_SERVICES = /^(secretsmanager|ssm)(-fips)?\.[a-z0-9-]+\.amazonaws\.com$/;

/** True when `host` is a secrets store (Key Vault, Secrets Manager, Parameter Store, Secret Manager, a HashiCorp Vault). */
export function isSecretStoreHost(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  for (const s of SECRET_STORE_SUFFIXES) if (h.endsWith(s) || h === s.slice(1)) return true;
  return AWS_SECRET_SERVICES.test(h) || (h.startsWith('vault.') && h.split('.').length >= 3);
}

/** isSecretStoreHost per host string, remembered. */
const secretStore = memoByHost(isSecretStoreHost);

export const secretEnumerationMeta: DetectorMeta = {
  id: 'secret-enumeration',
  title: 'Secrets store read in bulk',
  severity: 'medium',
  mitre: { id: 'T1555.006', name: 'Credentials from Password Stores: Cloud Secrets Management Stores' },
  description:
    'An agent calls a secrets store (Azure Key Vault or Managed HSM, AWS Secrets Manager or Parameter Store, Google Secret Manager, a HashiCorp Vault) at least 50 times within 10 minutes, 10× the most it ever did in 10 minutes and 5× the most its blueprint\'s busiest agent did (10× for an agent calling them for less than an hour; peaks decay with a half-life of 3 days; without any baseline, 200 calls): code running in the agent\'s runtime dumping every secret with the agent\'s own token, from its own host. ' +
    'Medium; low when 2 other agents of the blueprint did the same within 10 minutes (a rollout reading its secrets at start-up) or 4 others went over their own bars (a bad configuration pushed to the whole blueprint), and low from 20 calls over those multiples under the medium floor. Once per agent per hour.',
};

export function createSecretEnumerationDetector(options: SecretEnumerationOptions = {}): Detector {
  const o: CallBurstOptions = { ...DEFAULTS, ...options };
  const watch = new CallBurstWatch(o);

  function verdict(e: NetworkEvent): BurstVerdict | null {
    if (e.dest_agent_id != null || e.action !== 'allowed' || !secretStore(e.dest_host)) return null;
    return watch.observe(e);
  }

  function finding(e: NetworkEvent, v: BurstVerdict): Detection {
    return burstFinding(secretEnumerationMeta, e, v, {
      headline: `Agent ${e.agent_id} called the secrets store ${e.dest_host} ${v.calls} times within ${o.windowMs / 60_000} min`,
      never: ', with no history of its blueprint',
      rollout: 'a rollout',
      observed: { calls: v.calls, window_ms: o.windowMs, dest_host: e.dest_host },
      noun: 'calls',
    });
  }

  return callBurstDetector(secretEnumerationMeta, watch, { verdict, finding });
}
