// Detector 21 — mass-send: an agent sends data out through an API far more
// often than it and its blueprint ever do — mail with attachments through
// Graph, messages to a chat API, records posted to a SaaS (T1534 Internal
// Spearphishing; the same count catches bulk writes and uploads through an
// API).
//
// A hijacked copilot (an injected instruction in a document it was asked to
// read) sends a hundred mails with an attachment on behalf of its user, from
// its own host, with its own token, to an API it calls every day: every
// property is familiar, the bytes per call are modest, and reads stay low.
// What is not familiar is how many calls carry data out. Most API calls are
// reads: a request of a few KiB, a larger answer. A send carries a body of
// at least 8 KiB and at least twice what comes back.
//
// A send: an allowed call to an API-like destination (not to one of the
// tenant's agents, a secrets store, a storage or file-sharing service, a
// model provider, DNS — storage and file sharing are exfiltration's, model
// prompts are the agent's daily work and batches of them are what users ask
// for) with bytes_out ≥ 8 KiB and ≥ 2× bytes_in.
// Rule (CallBurstWatch, call-burst.ts): at least 40 sends within 10 minutes,
// 10× the agent's own peak and 5× its blueprint's (once it has sent, or been
// active at all, for an hour: an agent that never sends has a peak of none;
// before that 10× its blueprint's) → medium; without any baseline (a young
// agent of a blueprint that never sends), 200.
// From 25 sends over that bar, under the medium floor: low. A rollout (2
// other agents of the blueprint bursting within 10 minutes: a campaign the
// whole blueprint runs, a month-end mailing) is low, and so is a burst while 4
// other agents of the blueprint went over their own bars (low or medium)
// within 10 minutes (a batch the whole blueprint runs, most agents sending a
// little less); a medium waits 3 minutes to see whether the rest of the
// blueprint follows (a scheduled mailing starts every agent at once). Once
// per agent per hour.
//
// State: a number per agent that sends, a record (its window, peaks) only
// for agents that once sent 8 or more within 10 minutes; per blueprint a
// peak and its latest bursts.

import type { NetworkEvent } from '../contract/events.js';
import type { Detection, DetectorMeta } from './types.js';
import type { Detector, DetectorContext } from './detector.js';
import { CallBurstWatch, burstFinding, callBurstDetector, type BurstVerdict, type CallBurstOptions } from './call-burst.js';
import { categoryInfo } from './categories.js';
import { isSecretStoreHost } from './secret-enumeration.js';
import { memoByHost } from './host-memo.js';

export interface MassSendOptions extends Partial<CallBurstOptions> {
  /** Least bytes out of a send, and its least ratio of bytes out to bytes in. */
  minSendBytes?: number;
  minOutInRatio?: number;
}

const DEFAULTS: CallBurstOptions & Required<Pick<MassSendOptions, 'minSendBytes' | 'minOutInRatio'>> = {
  windowMs: 10 * 60_000,
  minCalls: 40,
  lowCalls: 25,
  factor: 10,
  peerFactor: 5,
  noBaselineCalls: 200,
  peakHalfLifeMs: 3 * 24 * 3_600_000,
  learnMs: 60 * 60_000,
  rolloutWindowMs: 10 * 60_000,
  rolloutAgents: 2,
  refireMs: 60 * 60_000,
  maxAgents: 1_000_000,
  stageCalls: 8,
  confirmMs: 3 * 60_000,
  wideAgents: 4,
  minSendBytes: 8 * 1024,
  minOutInRatio: 2,
};

/** Categories whose uploads are not sends: storage and file sharing (exfiltration's), model providers (prompts). */
const NOT_SENDS = new Set(['storage', 'object_storage', 'cloud_storage', 'cdn', 'agent']);

const secretStore = memoByHost(isSecretStoreHost);

/** True when the category is one whose uploads are sends (an API, a SaaS, a messaging service...). */
export function isSendCategory(category: string): boolean {
  const c = categoryInfo(category);
  return !c.fileSharing && !c.cdn && !c.modelProvider && !NOT_SENDS.has(c.key);
}

export const massSendMeta: DetectorMeta = {
  id: 'mass-send',
  title: 'Mass sending through an API',
  severity: 'medium',
  mitre: { id: 'T1534', name: 'Internal Spearphishing' },
  description:
    'An agent makes at least 40 calls that carry data out (a body of 8 KiB or more and at least twice the answer: mail with attachments, chat messages, records posted) to API destinations within 10 minutes, 10× the most it ever did in 10 minutes and 5× the most its blueprint\'s busiest agent did (10× the blueprint\'s for an agent active for less than an hour; 200 when its blueprint never sent either): a hijacked agent mailing or posting on behalf of its users, from its own host with its own token. ' +
    'Storage and file-sharing uploads (exfiltration judges those), model prompts, secrets stores and calls to the tenant\'s agents are not counted. Medium, reported after 3 minutes; low when 2 other agents of the blueprint did the same within 10 minutes of it, before or after (a campaign of the whole blueprint: its first senders are not reported as attacks before the rest start), or 4 others went over their own bars then (a batch the whole blueprint runs), and low from 25 sends over those multiples under the medium floor. Once per agent per hour; an agent carrying its blueprint\'s campaign on past the hour, without a pause, is not reported again.',
};

export function createMassSendDetector(options: MassSendOptions = {}): Detector {
  const o = { ...DEFAULTS, ...options };
  const watch = new CallBurstWatch(o);

  function verdict(e: NetworkEvent, ctx: DetectorContext): BurstVerdict | null {
    if (e.bytes_out < o.minSendBytes || e.bytes_out < o.minOutInRatio * e.bytes_in) return null;
    if (e.dest_agent_id != null || e.action !== 'allowed' || e.dest_port === 53 || e.dest_port === 853) return null;
    if (!isSendCategory(e.category) || secretStore(e.dest_host)) return null;
    // An agent active for an hour that never sent has a baseline of none.
    return watch.observe(e, ctx.agent(e.tenant_id, e.agent_id)?.first_seen);
  }

  function finding(e: NetworkEvent, v: BurstVerdict): Detection {
    return burstFinding(massSendMeta, e, v, {
      headline: `Agent ${e.agent_id} made ${v.calls} calls carrying data out within ${o.windowMs / 60_000} min (latest to ${e.dest_host})`,
      never: ', where it and its blueprint never sent more than a few',
      rollout: 'a campaign',
      observed: { sends: v.calls, window_ms: o.windowMs, dest_host: e.dest_host, category: e.category, bytes_out: e.bytes_out, bytes_in: e.bytes_in },
      noun: 'sends',
    });
  }

  return callBurstDetector(massSendMeta, watch, { verdict, finding });
}
