// Detector 28 — cryptomining: an agent's runtime connects to a cryptocurrency
// mining pool (T1496.001 Resource Hijacking: Compute Hijacking).
//
// An agent with compute rights (a devops agent that deploys, a worker on a
// GPU pool) is worth its CPU and GPU to whoever takes its runtime over: a
// miner started in its container, or in the VMs its ARM rights deploy,
// connects to a pool over Stratum and keeps the connection, and the gateway
// logs a flow to the pool every minute or so. No agent has a reason to
// reach a mining pool, so one flow says it.
//
// A pool is known by its host (the large public pools' domains, or a first
// label naming Stratum or Monero: `stratum+tcp://` endpoints are spelt
// `stratum.`, `xmr-eu1.`) or by the gateway's verdict: a `cryptocurrency`
// category on a port other than the web's. The same category on 443 is an
// exchange's API, a price feed or a wallet service, which a trading or
// accounting agent calls all day: never judged; nor are the exchanges' own
// domains on any port (Binance's market-data WebSocket is documented on
// 9443, their FIX gateways listen on ports of their own): an exchange runs
// no pool.
// - an allowed flow to a pool → medium (the miner reached it);
// - a blocked one → low (the gateway stopped it, but something in the
//   runtime tried), and medium once `retryAttempts` were blocked within
//   `retryWindowMs` (a miner retrying: it is running).
// Once per agent per hour for each severity. (A `cryptomining` or
// `cryptojacking` category is a malicious verdict: gateway-threat's.)
//
// State: only for agents that reached a pool (its last findings and the
// times of its blocked attempts); the per-event cost is a remembered host
// lookup.

import type { AgentEvent, NetworkEvent } from '../contract/events.js';
import type { Detection, DetectorMeta, Severity } from './types.js';
import { peerGroupName, type Detector } from './detector.js';
import { NO_DETECTIONS, TenantMap, type Timed } from './agent-directory.js';
import { agentState } from './keyed-state.js';
import { categoryKey } from './categories.js';
import { memoByHost, memoByLabel } from './host-memo.js';

export interface CryptominingOptions {
  /** Blocked attempts within `retryWindowMs` that show a miner running (medium). */
  retryAttempts?: number;
  retryWindowMs?: number;
  /** One finding per agent per severity per this, ms. */
  refireMs?: number;
  maxAgents?: number;
}

const DEFAULTS: Required<CryptominingOptions> = {
  retryAttempts: 3,
  retryWindowMs: 10 * 60_000,
  refireMs: 3_600_000,
  maxAgents: 1_000_000,
};

/**
 * Domains of public mining pools (each also matches its subdomains: regional
 * endpoints such as `gulf.moneroocean.stream`, `xmr-eu1.nanopool.org`).
 */
const POOL_DOMAINS = [
  'moneroocean.stream',
  'supportxmr.com',
  'nanopool.org',
  '2miners.com',
  'f2pool.com',
  'hashvault.pro',
  'c3pool.com',
  'c3pool.org',
  'herominers.com',
  'unmineable.com',
  'minexmr.com',
  'xmrpool.eu',
  'ethermine.org',
  'viabtc.com',
  'antpool.com',
  'poolin.com',
  'kryptex.network',
  'nicehash.com',
  'miningpoolhub.com',
  'zergpool.com',
  'woolypooly.com',
  'flexpool.io',
  'hiveon.net',
  'emcd.io',
  'braiins.com',
  'slushpool.com',
  'k1pool.com',
  'p2pool.io',
  'gntl.uk',
  'xmrfast.com',
];

/** Categories gateways give exchanges, wallets and pools alike: a pool only off the web's ports. */
const CRYPTO_CATEGORIES = new Set(['cryptocurrency', 'cryptocurrencies', 'crypto_currency', 'crypto', 'cryptocurrency_and_blockchain', 'blockchain']);
const WEB_PORTS = new Set([80, 443, 8080, 8443]);

/**
 * Domains of exchanges (and each subdomain: `stream.binance.com`,
 * `fix-md.binance.com`, `ws-feed.exchange.coinbase.com`): their APIs,
 * WebSockets and FIX gateways on whatever port, never a pool.
 */
const EXCHANGE_DOMAINS = [
  'binance.com',
  'binance.us',
  'coinbase.com',
  'kraken.com',
  'okx.com',
  'bybit.com',
  'kucoin.com',
  'bitfinex.com',
  'bitstamp.net',
  'gemini.com',
  'htx.com',
  'huobi.com',
  'gate.io',
  'mexc.com',
  'bitget.com',
  'upbit.com',
  'bithumb.com',
  'deribit.com',
  'crypto.com',
  'bitmex.com',
  'lbank.com',
  'bitflyer.com',
  'coincheck.com',
];

/** A first label naming Stratum or Monero: `stratum.`, `stratum-eu.`, `xmr.`, `xmr-eu1.`, `xmrpool.`. */
const POOL_LABEL = /^(stratum|xmr)([-.0-9]|pool|$)/;

function underDomain(h: string, d: string): boolean {
  return h === d || (h.endsWith(d) && h.charCodeAt(h.length - d.length - 1) === 46);
}

function poolHost(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (POOL_LABEL.test(h) && h.includes('.')) return true;
  for (const d of POOL_DOMAINS) if (underDomain(h, d)) return true;
  return false;
}
const isPoolHost = memoByHost(poolHost);
const isExchangeHost = memoByHost((host: string): boolean => {
  const h = host.toLowerCase().replace(/\.$/, '');
  for (const d of EXCHANGE_DOMAINS) if (underDomain(h, d)) return true;
  return false;
});
const isCryptoCategory = memoByLabel((category: string): boolean => CRYPTO_CATEGORIES.has(categoryKey(category)));

/** Per agent that reached a pool: its last findings (ms, 0 none) and its latest blocked attempts (ms, oldest first). */
interface MinerAgent extends Timed {
  low: number;
  medium: number;
  blocked: number[];
  ids: string[];
}
const MAX_IDS = 8;

export const cryptominingMeta: DetectorMeta = {
  id: 'cryptomining',
  title: 'Cryptocurrency mining pool connection',
  severity: 'medium',
  mitre: { id: 'T1496.001', name: 'Resource Hijacking: Compute Hijacking' },
  description:
    "An agent's runtime connects to a cryptocurrency mining pool: a public pool's domain, a host whose first label names Stratum or Monero, or a destination the gateway calls cryptocurrency on a port other than 80, 443, 8080 and 8443 (the same category on the web's ports is an exchange's API or a wallet service, never judged; nor are the large exchanges' own domains on any port: their WebSockets and FIX gateways). " +
    'A miner started in the agent\'s container, or in the machines its rights deploy, spends its compute for someone else. Medium for an allowed flow; low for a blocked one, medium once 3 were blocked within 10 minutes (a miner retrying). Once per agent per hour for each severity.',
};

export function createCryptominingDetector(options: CryptominingOptions = {}): Detector {
  const o: Required<CryptominingOptions> = { ...DEFAULTS, ...options };
  const agents = new TenantMap<MinerAgent>(o.maxAgents);

  function isPool(e: NetworkEvent): boolean {
    return isPoolHost(e.dest_host) || (!WEB_PORTS.has(e.dest_port) && isCryptoCategory(e.category) && !isExchangeHost(e.dest_host));
  }

  function onPool(e: NetworkEvent): Detection[] {
    let a = agents.get(e.tenant_id, e.agent_id);
    if (a === undefined) {
      a = { at: e.time, low: 0, medium: 0, blocked: [], ids: [] };
      agents.set(e.tenant_id, e.agent_id, a);
    } else if (e.time > a.at) a.at = e.time;
    if (a.ids.length >= MAX_IDS) a.ids.shift();
    a.ids.push(e.event_id);
    let severity: Severity;
    let attempts = 0;
    if (e.action === 'allowed') severity = 'medium';
    else {
      // Blocked attempts of the retry window, this one included.
      a.blocked = a.blocked.filter((t) => e.time - t < o.retryWindowMs);
      if (a.blocked.length >= o.retryAttempts) a.blocked.shift();
      a.blocked.push(e.time);
      attempts = a.blocked.length;
      severity = attempts >= o.retryAttempts ? 'medium' : 'low';
    }
    const last = severity === 'medium' ? a.medium : a.low;
    if (last !== 0 && e.time - last < o.refireMs) return NO_DETECTIONS;
    if (severity === 'medium') a.medium = e.time;
    else a.low = e.time;
    return [finding(e, severity, attempts, a.ids)];
  }

  function finding(e: NetworkEvent, severity: Severity, attempts: number, ids: string[]): Detection {
    const target = `${e.dest_host}:${e.dest_port}`;
    const what =
      e.action === 'allowed'
        ? `connected to the mining pool ${target} (${e.category}, ${e.bytes_out} bytes out, ${e.bytes_in} in): a miner is spending its compute`
        : attempts >= o.retryAttempts
          ? `tried the mining pool ${target} ${attempts} times within ${o.retryWindowMs / 60_000} min, blocked by the gateway: a miner in its runtime keeps retrying`
          : `tried to reach the mining pool ${target}, blocked by the gateway: something in its runtime wants to mine`;
    return {
      detector: cryptominingMeta.id,
      severity,
      tenant_id: e.tenant_id,
      agent_id: e.agent_id,
      time: e.time,
      summary: `Agent ${e.agent_id} ${what}`,
      evidence: {
        observed: { dest_host: e.dest_host, dest_port: e.dest_port, category: e.category, action: e.action, bytes_out: e.bytes_out, bytes_in: e.bytes_in, blocked_attempts: attempts },
        baseline: { agents_expected_to_mine: 0 },
        threshold: `a mining pool (public pool domain, Stratum or Monero host, or cryptocurrency category off ports ${[...WEB_PORTS].join('/')}); blocked: ${o.retryAttempts} attempts within ${o.retryWindowMs / 60_000} min for medium`,
        peer_group: peerGroupName(e.blueprint_id) ?? `agent:${e.agent_id}`,
      },
      event_ids: ids.slice(),
    };
  }

  return {
    meta: cryptominingMeta,
    types: ['network'] as const,
    observe(e: AgentEvent): Detection[] {
      if (e.type !== 'network' || !isPool(e)) return NO_DETECTIONS;
      return onPool(e);
    },
    ...agentState('cryptomining', agents),
  };
}
