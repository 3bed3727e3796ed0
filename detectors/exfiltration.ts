// Detector 9 — exfiltration: an agent sends far more data out than it and its
// blueprint's agents ever do, in one transfer or summed over a short window.
//
// Volumes are heavy-tailed, so sizes are judged on a log2 scale against
// high-water marks and high quantiles, never means:
// - per agent: the highest log2 bucket of bytes_out it ever sent (its
//   high-water mark), plus KiB sums per 5-minute window (current and previous)
//   and the highest completed two-window sum;
// - per peer group (blueprint): a histogram of each agent-window's largest
//   transfer (halved when a counter saturates, so it follows recent windows;
//   its 99th percentile is the peer baseline), the highest two-window sum of
//   any of its agents, and the destinations it sends bulk data (≥256 KiB) to.
// Where the data goes matters as much as how much: big uploads to a
// destination the blueprint's agents regularly upload to (its own storage
// account...) are normal heavy-tail traffic. A bulk destination is familiar to
// an agent once another agent of its blueprint used it 15 minutes before
// without being flagged for it (also for the agent that used it first: a
// fleet's shared sink is the blueprint's once its peers use it too), or an
// hour after the blueprint first did (so
// an agent's own fresh exfiltration target never becomes familiar during the
// exfiltration, nor does a drop site two agents started on minutes apart). A destination the blueprint
// works with is familiar too, whatever the sizes sent there: one 2 of its
// agents call, first called at least an hour before (its search service,
// its model endpoint, Graph): documents sent there are the heavy tail of its
// work. Not for risky categories (file sharing, uncategorized,
// suspicious...): only the blueprint's own bulk uploads make a drop site
// familiar. An agent that fired within the
// cooldown teaches no destination: a thief's drop site must not become
// familiar to the blueprint's next victim. Except to the agent itself on a
// schedule: the same agent sending bulk data again to a destination it was
// flagged for, 90 minutes to 8 days later (a broadcaster's syndication to its
// partners every two hours, a twice-daily partner upload, a nightly backup),
// is running a job the first detection put before an analyst; it is familiar
// from then on. (A thief's drop site is reported at its first use; his next
// chunks there within the hour and a half still are.)
// An upload to an Azure Storage account presenting one of the two storage
// tokens the tenant last granted the agent (or any token, by an agent whose sponsor
// granted it a storage data role within the day) goes to the tenant's own
// account (Entra-authorized storage takes only its tenant's tokens; a
// thief's drop account takes a SAS): familiar. A finding held for its
// confirmation is dropped when the token event of the storage token it
// presented, delivered after the upload, shows it was one of those.
// Single transfer fires when bytes_out ≥ max(minimum, multiple × baseline)
// (× 8 towards a familiar destination, and low there unless it is a drop
// site: the data stays with the organisation), baseline = the higher of the agent's
// high-water mark (once it has 20 transfers) and the blueprint's p99 (once it
// has 30 agent-windows): minimum 100 MB and 8× normally, 10 MB and 4× to
// file_sharing / uncategorized / malicious destinations. Cumulative: the bytes
// of the last two windows (≤10 min) to destinations not familiar fire at
// max(100 MB, 5 × baseline sum) — or at max(10 MB, 20 × baseline sum) when
// that is lower: a blueprint that never sent more than a few hundred kB in ten
// minutes to new destinations has no precedent for 10 MB (documents posted
// to a SaaS API keyed by the attacker — Notion, a Logic Apps trigger — in
// MB posts, under every per-transfer bar) — or, counting only risky
// categories and agent endpoints outside the tenant (category agent without a
// dest_agent_id: a third party's agent handed the context), at
// max(20 MB, 4 × baseline risky sum) (high from 50 MB): a blueprint that never
// sends to file sharing has no risky baseline, and a few tens of MB there in
// minutes is unprecedented for it. Slow: the same sums over the current
// and the previous half-hour (30-60 min) fire at max(200 MB, 3 × the highest
// such sum of the agent and its blueprint), or counting risky categories
// only at max(50 MB, 3 × baseline) (high from 100 MB): a trickle of a few MB a minute stays
// under every 10-min threshold (and teaches the 10-min baselines), and a new
// destination becomes familiar after an hour, so the hour is judged with
// baselines of its own, fed one half-hour late like the windows'. Agents and blueprints without
// enough history do not fire (except ≥1 GB to a risky destination, in one
// transfer or within the two windows); otherwise window sums count only once
// the blueprint is an hour old (before that every destination looks new).
// Values over a threshold never enter the baselines. Cooldown 30 min per kind.
// Only allowed transfers count (a blocked one sent nothing).
// A finding on bulk data (a transfer, a window or an hour sum, medium or
// high) is reported 3 minutes later, unless 3 agents of the blueprint (this
// one included) send bulk data to its destination within 10 minutes by then:
// a blueprint-wide cut-over (a new log sink, a tenant migration's storage
// account, a quarter-end export to a data lake, a new partner's SFTP host
// taking every agent's initial sync) is a deployment, a thief's drop site is
// the victim's alone. Towards a destination with a verdict against it
// (malicious, suspicious) it is reported at once: no deployment goes there.
// A destination found to be such a cut-over is the blueprint's from then on
// (its agents, held as flagged while judged, would teach it nothing and be
// judged again once their cooldowns end), and a sum topped up by a small
// call (a poll) is held too while other agents of the blueprint send bulk
// data to its destination.
// Chunked to a destination the blueprint works with (not a drop site, not
// storage: its APIs, its model endpoint, Graph): the 10-minute sum fires at
// max(32 MB, 20× the most the agent or its blueprint sent to such
// destinations in 10 minutes; 16 MB when a request of 1 MB or more to a
// model provider reached without the tenant's token tops it up: files
// uploaded to its files API under a key planted in a document land in the
// attacker's account) — data smuggled out in model prompts or API
// posts of MBs where the blueprint sends kB (confirmed like the bulk sums: 3
// agents of the blueprint doing it is a rollout, say of long-context prompts).
// A transfer within 4× the largest its blueprint sent to that destination
// while it was new to it, an hour or more before, raises the agent's own
// baseline at once: an hourly partner file over SFTP since the stream began
// was counted as new-destination bytes then, which no surge baseline saw.
// Not to a model endpoint reached with the agent's own token: a resource of
// its tenant (a fine-tuning upload of hundreds of MB to its Azure OpenAI
// resource), where a shared provider fed with someone else's key takes none.
// DNS tunnelling (data smuggled in queries, a few hundred bytes a flow, under
// every byte threshold; not to the platform's own resolver or a private one,
// every workload's default, which only a name tunnel's names give away): 100 DNS flows (port 53 or 853, or HTTPS to a public
// DoH resolver or to an image proxy that fetches any URL, such as GitHub's
// Camo: data sent in the order of pixel fetches; see dns-flows.ts) within the 10-minute
// window to name servers (by address) the blueprint does not use (queried by
// 2 of its agents for an hour, whatever the category) is medium.
// Secrets, then shipped: within 15 minutes after the agent called a secrets
// store (Key Vault, Secrets Manager...), requests of 32 KiB or more to a
// destination its blueprint works with, each 16× the largest request any of
// its agents sent there (log2 buckets), summing to 128 KiB, are medium: a
// poisoned MCP tool telling the agent to pass secrets in a parameter, a worm
// publishing a vault dump to the code host the agent uses every day. Within
// 15 minutes after a harvest (20 or more secrets-store calls within 10
// minutes), 4× is enough: a vault read whole, then pasted into gists. Not to
// storage, model providers (prompts carry context), CDNs or private
// addresses; the requests of those 15 minutes never raise the blueprint's
// largest (the first, smaller ones of a shipment would hide the rest).
// So after 4 MiB received from MCP servers within 10 minutes (answers of
// 16 KiB or more): data read through a tool, then written out (private
// repositories read through a code host's MCP server, then pushed into a
// public pull request through it: a toxic agent flow).
// Writes to a system the blueprint only reads: 10 requests within 10 minutes
// to destinations inside the organisation's network (a private address:
// a SaaS API reads and writes on one host) that it works with (counted
// across them: recipes rewritten in their store, then pushed to the tools'
// servers, are one change), where its
// agents' largest request stayed under 16 KiB (a chromatography data
// system, a historian it queries), each
// 32 KiB or more, twice what came back and 8× that largest, are medium,
// confirmed like a bulk finding (three of its agents starting to write there
// is a release): results rewritten through the agent by an insider, with a
// permission granted at set-up and never used (stored data manipulation),
// or data pushed out through the system. Such writes never raise the
// largest (the smaller ones of a burst would hide the rest).
// Prompts to a relay: 6 prompt-sized requests (8 KiB or more, more out than
// in) within 10 minutes to one model provider host that is neither a major
// provider's own API (OpenAI, Anthropic, Google, Bedrock, Azure OpenAI...)
// nor one the blueprint works with, or such tool calls to an MCP server the
// blueprint does not work with (4 times what comes back: a poisoned tool
// asking for the mailbox as a hidden argument), are medium, confirmed like a bulk
// finding (3 agents of the blueprint moving there is a provider switch): the
// agent's model client pointed at an attacker's OpenAI-compatible relay by
// a poisoned configuration, every prompt and the mail in it read there.
// Image requests carrying data: 15 image fetches (file_type png, gif...)
// within 10 minutes to one host the blueprint does not work with, each
// sending 1.5 KiB or more and twice what came back, are medium (confirmed
// the same way): an image fetch sends a URL and gets pixels, these send
// kilobytes of URL and get a tracking pixel, as the markdown images of a
// prompt-injected assistant's answer do when rendered (EchoLeak). Fewer
// when the answers are pixels (256 bytes or less) and the requests carry
// 1 KiB or more: 6 to a host the blueprint does not work with, 12 to one
// it does (its image host's name re-registered by someone else), not to
// analytics or advertising hosts (built to take pixels): a pixel's URL
// names an event in a few hundred bytes, not kilobytes of the agent's
// context after every model turn (a poisoned memory, SpAIware).
// Blocked attempts: 8 uploads carrying a file (file_type) to file-sharing,
// storage, uncategorized or risky destinations the blueprint does not work
// with, blocked by the gateway within 10 minutes, to 2 distinct hosts or
// more, is medium: the DLP stopped the data, not the thief.
// Data smuggled in host names (see name-tunnel.ts; DNS queries count twice): 40 distinct
// encoded-looking names (a first label of 30+ letters and digits, or 20+ with
// 3 digits) under one domain within 10 minutes is medium.

import { categoryInfo, categoryKey, type CategoryInfo } from './categories.js';
import type { AgentEvent, NetworkEvent, TokenEvent } from '../contract/events.js';
import { AgentStore, GroupStore, NO_DETECTIONS, TenantMap, atMs, clone, hashString, setAtMs, type MsState, type Timed } from './agent-directory.js';
import { formatDuration, isSanctionedActor, peerGroupId, peerGroupName, type Detector, type DetectorContext } from './detector.js';
import { memoByHost, memoByLabel } from './host-memo.js';
import { isSecretStoreHost } from './secret-enumeration.js';
import { isPrivateAddress } from './addresses.js';
import { isGovernmentHost } from './domains.js';
import { resourceHash, roleGrantOf } from './resources.js';
import { RequestChannel, requestChannelOf } from './dns-flows.js';
import { DueQueue, type DueItem } from './due-queue.js';
import { NameTunnelWatch } from './name-tunnel.js';
import type { Detection, DetectorMeta, Severity } from './types.js';

export interface ExfiltrationOptions {
  /** Destination categories with the lower thresholds. */
  riskyCategories?: string[];
  /** Single transfer: absolute minimum and multiple of the baseline, normal and risky destinations. */
  minBytes?: number;
  minBytesRisky?: number;
  multiple?: number;
  multipleRisky?: number;
  /** Transfers at least this large teach the peer group its bulk destinations. */
  bulkBytes?: number;
  /**
   * A bulk destination is familiar to an agent once another agent of its group
   * sent bulk data there `peerFamiliarAfterMs` before (and was not flagged
   * for it), or `familiarAfterMs` after the group first did, ms.
   */
  familiarAfterMs?: number;
  peerFamiliarAfterMs?: number;
  /** Thresholds are multiplied by this towards a familiar bulk destination. */
  familiarFactor?: number;
  /** Bulk destinations remembered per peer group. */
  maxBulkDestinations?: number;
  /** Single transfer to a risky destination that fires even without any baseline. */
  absoluteBytesRisky?: number;
  /** Quantile of the blueprint's per-agent-window maxima used as its baseline. */
  groupQuantile?: number;
  /** Transfers an agent needs before its own baseline counts. */
  minAgentSamples?: number;
  /** Agent-windows a blueprint needs before its baseline counts. */
  minGroupWindows?: number;
  /** Window length (the cumulative sum covers the current and the previous window). */
  windowMs?: number;
  minWindowBytes?: number;
  minWindowBytesRisky?: number;
  /** A risky-destination window sum is high severity from this many bytes (medium below). */
  highWindowBytesRisky?: number;
  windowMultiple?: number;
  windowMultipleRisky?: number;
  /**
   * Unprecedented volume: the 10-min sum to destinations new to the
   * blueprint also fires at max(minWindowBytesQuiet, quietMultiple ×
   * baseline) when that is below the usual threshold. A blueprint whose
   * agents never sent more than a few MB in ten minutes to new destinations
   * (most send all their bulk to destinations they know) has no precedent
   * for 10 MB to a storage account or a web API no peer uses, whatever its
   * category. (It was 50 MB: documents posted in MB chunks to a SaaS API
   * the attacker holds the key of stayed under it.)
   * (Not for the hour sums: their baselines fill half an hour late, so a
   * young blueprint's would be empty when it starts being judged.)
   */
  minWindowBytesQuiet?: number;
  quietMultiple?: number;
  /** Slow: floors and multiple of the baseline for the sums of the current and previous half-hour. */
  minSlowBytes?: number;
  minSlowBytesRisky?: number;
  /** A risky-destination hour sum is high severity from this many bytes (medium below). */
  highSlowBytesRisky?: number;
  slowMultiple?: number;
  /** Completed windows and history an agent needs before its own window baseline counts. */
  minAgentWindows?: number;
  minAgentHistoryMs?: number;
  cooldownMs?: number;
  maxAgents?: number;
  /**
   * DNS tunnelling: this many DNS flows (port 53 or 853, or HTTPS to a public DoH resolver) within the 10-minute
   * window to name servers the blueprint does not use. Data smuggled in
   * queries is a few hundred bytes a flow, under every byte threshold; the
   * number of flows to a resolver nobody in the blueprint uses gives it away.
   */
  dnsFlows?: number;
  /**
   * Blocked attempts: this many uploads carrying a file (file_type) to
   * file-sharing, storage, uncategorized or risky destinations the blueprint
   * does not use, blocked by the gateway within 10 minutes, to at least
   * `blockedUploadHosts` distinct hosts: an exfiltration the DLP stopped.
   */
  blockedUploads?: number;
  blockedUploadHosts?: number;
  /** Smaller blocked posts carry no file worth counting (bytes). */
  blockedUploadMinBytes?: number;
  /**
   * Bulk to a familiar drop site (a file-sharing host the blueprint uploads
   * to): the 10-minute sum fires at max(familiarDropBytes, familiarDropMultiple ×
   * the highest such sum of the agent and of its blueprint). Window sums leave
   * familiar destinations out, so gigabytes chunked to the agent's usual Box
   * host (an account the attacker swapped in, the same service) would pass.
   */
  familiarDropBytes?: number;
  familiarDropMultiple?: number;
  /**
   * Bulk to familiar destinations that are not drop sites nor storage (its
   * APIs, its model endpoints, Graph): the 10-minute sum fires at
   * max(familiarSurgeBytes, familiarSurgeMultiple × the highest such sum of
   * the agent and of its blueprint). Single transfers there are judged ×8 and
   * window sums leave them out, so data smuggled in model prompts or posted
   * through the agent's own API calls, chunk by chunk, would pass.
   */
  familiarSurgeBytes?: number;
  familiarSurgeMultiple?: number;
  /**
   * The floor when the sum is topped up by a request of 1 MB or more to a
   * model provider reached without the tenant's token (a shared provider: whose account
   * the data lands in, the key decides): documents uploaded to its files
   * API with a key planted in a document go to the attacker's account.
   */
  familiarSurgeBytesModel?: number;
  /**
   * Secrets, then shipped (see the header): within shipWindowMs after the
   * agent called a secrets store, requests of at least shipMinBytes to a
   * destination its blueprint works with, each 2^shipBuckets times the
   * largest its blueprint's agents ever sent there, summing to shipBytes.
   */
  shipWindowMs?: number;
  shipMinBytes?: number;
  shipBuckets?: number;
  shipBytes?: number;
  /** Within shipWindowMs after harvestCalls secrets-store calls within 10 minutes (a harvest), 2^harvestShipBuckets is enough. */
  harvestCalls?: number;
  harvestShipBuckets?: number;
  /**
   * Read through a tool, then shipped: toolReadBytes or more received from
   * MCP servers within toolReadWindowMs arms the same watch as a secrets-store
   * call (private repositories read through a code host's MCP server, then
   * written into a public pull request through it: a toxic agent flow).
   */
  toolReadBytes?: number;
  toolReadWindowMs?: number;
  /**
   * Writes to a system the blueprint only reads: `writes` requests within
   * two windows to one destination it works with whose largest request from
   * its agents was under 16 KiB, each of writeMinBytes or more, twice what
   * came back and 2^writeBuckets times that largest (see writesOf).
   */
  writes?: number;
  writeMinBytes?: number;
  writeBuckets?: number;
  /**
   * Prompts to a relay: relayPrompts requests of relayPromptBytes or more
   * (more out than in) within two windows to model providers that are not a
   * major provider's own API and that the blueprint does not work with.
   */
  relayPrompts?: number;
  relayPromptBytes?: number;
  /**
   * Image requests carrying data: imageBeacons image fetches of
   * imageBeaconBytes or more out, twice what came back, within two windows
   * to one host the blueprint does not work with.
   */
  imageBeacons?: number;
  imageBeaconBytes?: number;
  /**
   * Tracking pixels carrying data: image requests of pixelBytes or more out
   * answered with PIXEL_MAX_IN bytes or less (a 1×1 image), to one host not
   * in an analytics or advertising category, within two windows:
   * pixelBeacons to a host the blueprint does not work with,
   * familiarPixelBeacons to one it does.
   */
  pixelBeacons?: number;
  familiarPixelBeacons?: number;
  pixelBytes?: number;
  /** Distinct encoded-looking host names under one domain within two windows that make a name tunnel (see name-tunnel.ts). */
  tunnelNames?: number;
  /**
   * A finding on bulk data (a transfer, a window or an hour sum) is
   * confirmed this long after (event time), except towards a malicious or
   * suspicious destination,
   * unless deploymentAgents agents of the blueprint (this one included) send
   * bulk data to its destination within deploymentWindowMs by then: a
   * blueprint-wide cut-over (a new log sink, a tenant migration's storage) is
   * a deployment, a thief's drop site is the victim's alone. 0 = at once.
   */
  confirmMs?: number;
  deploymentAgents?: number;
  deploymentWindowMs?: number;
}

const MB = 1_000_000;

const DEFAULTS: Required<ExfiltrationOptions> = {
  riskyCategories: ['file_sharing', 'uncategorized', 'malicious'],
  minBytes: 100 * MB,
  minBytesRisky: 10 * MB,
  multiple: 8,
  multipleRisky: 4,
  bulkBytes: 256 * 1024,
  familiarAfterMs: 60 * 60_000,
  peerFamiliarAfterMs: 15 * 60_000,
  familiarFactor: 8,
  maxBulkDestinations: 256,
  absoluteBytesRisky: 1000 * MB,
  groupQuantile: 0.99,
  minAgentSamples: 20,
  minGroupWindows: 30,
  windowMs: 5 * 60_000,
  minWindowBytes: 100 * MB,
  minWindowBytesRisky: 20 * MB,
  highWindowBytesRisky: 50 * MB,
  windowMultiple: 5,
  windowMultipleRisky: 4,
  minWindowBytesQuiet: 10 * MB,
  quietMultiple: 20,
  minSlowBytes: 200 * MB,
  minSlowBytesRisky: 50 * MB,
  highSlowBytesRisky: 100 * MB,
  slowMultiple: 3,
  minAgentWindows: 6,
  minAgentHistoryMs: 60 * 60_000,
  cooldownMs: 30 * 60_000,
  maxAgents: 2_000_000,
  dnsFlows: 100,
  blockedUploads: 8,
  blockedUploadHosts: 2,
  blockedUploadMinBytes: 10_000,
  familiarDropBytes: 1000 * MB,
  familiarDropMultiple: 10,
  familiarSurgeBytes: 32 * MB,
  familiarSurgeMultiple: 20,
  familiarSurgeBytesModel: 16 * MB,
  shipWindowMs: 15 * 60_000,
  shipMinBytes: 32 * 1024,
  shipBuckets: 4,
  shipBytes: 128 * 1024,
  toolReadBytes: 4 * 1024 * 1024,
  toolReadWindowMs: 10 * 60_000,
  writes: 10,
  writeMinBytes: 32 * 1024,
  writeBuckets: 3,
  harvestCalls: 20,
  harvestShipBuckets: 2,
  relayPrompts: 6,
  relayPromptBytes: 8 * 1024,
  imageBeacons: 15,
  imageBeaconBytes: 1536,
  pixelBeacons: 6,
  familiarPixelBeacons: 12,
  pixelBytes: 1024,
  tunnelNames: 40,
  confirmMs: 3 * 60_000,
  deploymentAgents: 3,
  deploymentWindowMs: 10 * 60_000,
};

const BUCKETS = 32;
/** A context without agents (before the first event). */
const NO_CONTEXT: DetectorContext = {
  agent: () => undefined,
  previousLastSeen: () => undefined,
  userRisk: () => 'none',
  agentRisk: () => 'none',
  watermark: () => -Infinity,
};
/** "Never" for second- and window-valued fields (a small integer, unlike MIN_SAFE_INTEGER). */
const NEVER = -1_000_000_000;
const KIB = 1024;
const HALF_HOUR_MS = 30 * 60_000;

/** log2 bucket of a byte count: 0 = under 128 B, b ≥ 1 = [2^(b+6), 2^(b+7)), 31 = 128 GiB and more. */
export function bucketOf(bytes: number): number {
  if (bytes < 128) return 0;
  const e = bytes < 2147483648 ? 31 - Math.clz32(bytes) : Math.floor(Math.log2(bytes));
  const b = e - 6;
  return b > BUCKETS - 1 ? BUCKETS - 1 : b;
}

/** Upper bound (exclusive) of a bucket, in bytes. */
export function bucketUpper(b: number): number {
  return 2 ** (b + 7);
}

// Per-agent state is small integers only (V8 stores them unboxed): times in
// seconds, byte sums in KiB. ~25 fields, ~250 bytes with the map entry.
/** Last activity to the millisecond (MsState). */
interface AgentEx extends MsState {
  /** Peer group id (blueprint id, or \u0001 + agent id). */
  g: string;
  /** Transfers counted; highest log2 bucket seen (the high-water mark, -1 none); typical bucket ×16 (EWMA, evidence). */
  n: number;
  top: number;
  lg: number;
  /** First seen, seconds. */
  f: number;
  /** Current window number; KiB out (all / risky) in it and in the previous one. */
  w: number;
  c0: number;
  c1: number;
  r0: number;
  r1: number;
  /** Highest bucket in the current window (fed to the peer group), -1 none. */
  mx: number;
  /** Highest completed two-window sums in KiB (all / risky) and completed windows. */
  wm: number;
  rm: number;
  nw: number;
  /** Last completed two-window sums (KiB, all / risky) and their window, waiting to enter the baselines. */
  pp: number;
  pr: number;
  pw: number;
  /** Window in which a cumulative threshold was last exceeded (kept out of baselines). */
  xw: number;
  /** Current half-hour number; KiB out (all / risky) to unfamiliar destinations in it and in the previous one. */
  hw: number;
  h0: number;
  h1: number;
  q0: number;
  q1: number;
  /** Highest completed half-hour pair sums (KiB, all / risky); the last completed pair, waiting to enter them. */
  hm: number;
  qm: number;
  ph: number;
  pq: number;
  /** Last fire time (seconds): single transfer, cumulative, slow. */
  ft: number;
  fc: number;
  /** Whether the last cumulative / slow fire was high (1) or medium (0): a medium grows into a high once within the cooldown. */
  fv: number;
  sv: number;
  fs: number;
  /** DNS flows (see requestChannelOf) to destinations its blueprint does not use, in the current and previous window; last DNS fire (seconds). */
  d0: number;
  d1: number;
  fd: number;
  /** Blocked file uploads to destinations new to the blueprint (see blockedUploads): flat [second, host hash] pairs, the last 10 minutes; last fire (seconds). Absent until the first. */
  bu?: number[];
  fb?: number;
  /**
   * KiB out to familiar drop sites (file sharing the blueprint uses) in the
   * current and previous window; the last completed pair, waiting to enter
   * the baseline; the highest completed pair.
   */
  k0: number;
  k1: number;
  pk: number;
  km: number;
  /** The same for familiar destinations that are neither drop sites nor storage (see familiarSurgeBytes). */
  s0: number;
  s1: number;
  ps: number;
  sm: number;
  /** The agent's latest call to a secrets store (seconds, NEVER none); KiB shipped since (see shipped). */
  sr: number;
  sk: number;
  /** Secrets-store calls counted since `sq` (seconds; counting restarts 10 minutes on), and when they last made a harvest (seconds); absent until one. */
  sn?: number;
  sq?: number;
  sh?: number;
  /** Last secrets-then-ship finding (seconds); absent until the first. */
  fx?: number;
  /** KiB received from MCP servers since `tq` (seconds), and when they last reached toolReadBytes (seconds; see shipped); absent until the first such call. */
  tk?: number;
  tq?: number;
  tr?: number;
  /** Hashes of the latest two storage tokens (resource https://storage.azure.com) the tenant granted the agent; 0 none (absent in older snapshots). */
  st?: number;
  sp?: number;
}

/** A destination the peer group's agents call (any size): first and last call (seconds), the first caller's hash, distinct callers (1 or 2: enough). */
interface KnownDest {
  f: number;
  l: number;
  a: number;
  n: number;
  /** Highest log2 bucket of bytes out in one request there by its agents (see bucketOf); absent in older snapshots. */
  b?: number;
}


/**
 * A request of 1 MB or more to a model provider without the tenant's token:
 * a file uploaded to a shared provider under some account's key (no prompt
 * is that big), whose sum with the agent's other sends to familiar
 * destinations is judged against the model floor (familiarSurgeBytesModel).
 */
function modelUpload(e: NetworkEvent, cat: CategoryInfo): boolean {
  return cat.modelProvider && e.token_id === null && e.bytes_out >= MB;
}

/** A government's host, by the gateway's category or by its name (see isGovernmentHost). */
const governmentHost = memoByHost(isGovernmentHost);
function isGovernment(e: NetworkEvent, cat: CategoryInfo): boolean {
  return cat.key.startsWith('government') || governmentHost(e.dest_host);
}

const secretStoreHost = memoByHost(isSecretStoreHost);
/** Secrets-store calls are counted over this span for a harvest (see ExfiltrationOptions.harvestCalls), s. */
const HARVEST_SPAN_S = 600;

/**
 * Cloud platforms' own recursive resolvers, by address: Azure's virtual
 * public IP (168.63.129.16), AWS's VPC resolver at its link-local address
 * (169.254.169.253, fd00:ec2::253) and Google Cloud's metadata server
 * (169.254.169.254), which answers DNS.
 */
const PLATFORM_RESOLVERS = new Set(['168.63.129.16', '169.254.169.253', 'fd00:ec2::253', '169.254.169.254']);
function isPlatformResolver(address: string): boolean {
  return PLATFORM_RESOLVERS.has(address.toLowerCase());
}

/**
 * The model providers' own API hosts (OpenAI, Anthropic, Google, Amazon
 * Bedrock, Azure OpenAI and AI Foundry, Mistral, Cohere, Groq, Together,
 * DeepSeek, xAI, Perplexity, Fireworks, OpenRouter): a fallback to one of
 * them is a router's, an unknown host answering the same API is a relay.
 */
const MAJOR_MODEL_HOSTS = /(^|\.)(api\.openai\.com|api\.anthropic\.com|generativelanguage\.googleapis\.com|aiplatform\.googleapis\.com|bedrock-runtime\.[a-z0-9-]+\.amazonaws\.com|openai\.azure\.com|services\.ai\.azure\.com|cognitiveservices\.azure\.com|inference\.ai\.azure\.com|models\.ai\.azure\.com|api\.mistral\.ai|api\.cohere\.(ai|com)|api\.groq\.com|api\.together\.(xyz|ai)|api\.deepseek\.com|api\.x\.ai|api\.perplexity\.ai|api\.fireworks\.ai|openrouter\.ai)\.?$/;
/** Image file types as gateways write them (extension or MIME subtype). */
const IMAGE_TYPES = new Set(['png', 'gif', 'jpg', 'jpeg', 'webp', 'svg', 'svg+xml', 'ico', 'bmp', 'avif', 'image', 'image/png', 'image/gif', 'image/jpeg', 'image/webp', 'image/svg+xml']);
/** The most a tracking pixel's answer weighs (a 1×1 GIF is 43 bytes; with headers counted, a few hundred), bytes. */
const PIXEL_MAX_IN = 256;

/** Analytics and advertising hosts: built to take tracking pixels with long query strings. */
const ANALYTICS_CATEGORY = /(?:^|_)(?:analytics|advertis\w*|ads|marketing|web_tracking|tracking)(?:_|$)/;
const isAnalyticsCategory = memoByLabel((key: string): boolean => ANALYTICS_CATEGORY.test(key));

const isImageType = memoByLabel((fileType: string): boolean => IMAGE_TYPES.has(fileType.toLowerCase().replace(/^\./, '')));

/** Categories of MCP servers (tool servers an agent calls with arguments). */
const MCP_CATEGORIES = new Set(['mcp_server', 'mcp', 'ai_tools', 'model_context_protocol']);
/** A destination whose largest request from the blueprint's agents stayed under twice this is one it only reads (see writesOf), bytes. */
const READER_MAX_BYTES = 8 * 1024;
const READER_MAX_BUCKET = bucketOf(READER_MAX_BYTES);
/** Tool calls answered with less are not counted towards a tool read (see noteToolRead), bytes. */
const TOOL_READ_MIN_BYTES = 16 * 1024;

/**
 * Domains of per-resource endpoints of Azure services that take Entra tokens
 * and hold the tenant's data: AI services (`<resource>.cognitiveservices.azure.com`,
 * Azure OpenAI, AI Search), Machine Learning workspaces, Health Data
 * Services (DICOM, FHIR: `<workspace>-<service>.dicom.azurehealthcareapis.com`),
 * and Container Registry (`<registry>.azurecr.io`: a build pushing its image
 * with the token it was granted for the registry, often right after reading
 * the signing or deployment secret it needs).
 */
const AZURE_TENANT_SERVICE_DOMAINS = [
  '.cognitiveservices.azure.com', '.openai.azure.com', '.search.windows.net', '.services.ai.azure.com', '.api.azureml.ms', '.azurehealthcareapis.com',
  '.azurecr.io', '.azurecr.us', '.azurecr.cn',
];

/** True when `host` is such a resource's endpoint (see AZURE_TENANT_SERVICE_DOMAINS): with the agent's own token, its tenant's. */
export function isAzureTenantServiceHost(host: string): boolean {
  const h = host.toLowerCase();
  for (const d of AZURE_TENANT_SERVICE_DOMAINS) if (h.length > d.length && h.endsWith(d)) return true;
  return false;
}

const azureTenantServiceHost = memoByHost(isAzureTenantServiceHost);

const isMajorModelHost = memoByHost((host: string): boolean => MAJOR_MODEL_HOSTS.test(host.toLowerCase()));

/** An agent's requests of one kind to one host (see hostBurst): how many within two windows, since when (ms), their event ids; last finding (ms, 0 none). */
interface HostBurst extends Timed {
  n: number;
  t0: number;
  host: string;
  ids: string[];
  fired: number;
  /** Set when a burst counted across hosts (see hostBurst's `anyHost`) reached more than its first; absent otherwise. */
  many?: true;
}

/** Azure Storage data endpoints (blob, Data Lake, files, queues, tables) of any account. */
const AZURE_STORAGE_HOST = /\.(blob|dfs|file|queue|table)\.core\.(windows\.net|usgovcloudapi\.net|chinacloudapi\.cn)$/;
export const isAzureStorageHost = memoByHost((host: string): boolean => AZURE_STORAGE_HOST.test(host.toLowerCase()));

/** How long a storage role granted to an agent makes its token-authorized uploads to Azure Storage the tenant's own, ms. */
const STORAGE_GRANT_MS = 24 * 3_600_000;
const STORAGE_RESOURCE = 'https://storage.azure.com';
const STORAGE_RESOURCE_HASH = resourceHash(STORAGE_RESOURCE);

/**
 * An upload to an Azure Storage account that presents a token (Entra
 * authorization: an account accepts only its own tenant's tokens, where a
 * thief's drop account takes a SAS) goes to an account of the tenant: when
 * the token is the one of the two storage tokens the tenant last granted the agent, or when
 * a sanctioned actor (its sponsor) granted the agent a storage data role
 * within the day (its token may predate what the detector holds). The data
 * stays with the organisation: a restore drill into an isolated account of
 * the tenant, a migration's export to the tenant's backup account.
 */
function tenantStorage(e: NetworkEvent, s: AgentEx, ctx: DetectorContext): boolean {
  if (e.token_id === null || !isAzureStorageHost(e.dest_host)) return false;
  if (s.st) {
    const h = hashString(e.token_id);
    if (h === s.st || h === s.sp) return true;
  }
  const info = ctx.agent(e.tenant_id, e.agent_id);
  if (info === undefined || info.permissions_granted.length === 0) return false;
  return roleGrantOf(info, STORAGE_RESOURCE, e.time, STORAGE_GRANT_MS, (g) => isSanctionedActor(info, g.actor, ctx)) !== null;
}

/** Destinations remembered per peer group as called. */
const MAX_KNOWN_DESTINATIONS = 512;

/** A bulk destination an agent of the group was flagged sending to: the agent's hash and the time (seconds). */
interface FlaggedDest {
  a: number;
  t: number;
}

/** Flagged destinations remembered per peer group. */
const MAX_FLAGGED_DESTINATIONS = 64;
/**
 * The same agent sending bulk data to a destination it was flagged for this
 * long after (and within RECURRENCE_MAX_S): a scheduled job (every two hours,
 * twice daily, nightly, weekly), which the first detection already put
 * before an analyst: familiar from then on. Seconds.
 */
const RECURRENCE_MIN_S = 90 * 60;
const RECURRENCE_MAX_S = 8 * 24 * 3600;

/** A transfer up to this many times the largest its blueprint sent to the destination before has a precedent there (see the familiar surge). */
const PRECEDENT_FACTOR = 4;

/** A destination the peer group sends bulk data to. */
interface BulkDest {
  /** First and last seen, seconds; hash of the first agent seen sending bulk data there. */
  f: number;
  l: number;
  a: number;
  /** The largest transfer there by an agent under no suspicion while the destination was new to the blueprint, KiB; absent in older snapshots. */
  m?: number;
  /** Hash of the second agent seen sending bulk data there, and its first time (s); absent until one does (and in older snapshots). */
  b?: number;
  o?: number;
}

interface GroupEx extends Timed {
  /** First seen, seconds: until the group is `familiarAfterMs` old, every destination looks new (cold start). */
  f: number;
  /** Histogram of per-agent-window maximum buckets. */
  h: number[];
  /** Destination host hash → bulk-upload history. */
  d: Map<number, BulkDest>;
  /** Destination host → calls of any size (the blueprint's working destinations, see `established`). */
  k: Map<string, KnownDest>;
  /** Destination host hash → the agent last flagged sending bulk data there (see RECURRENCE_MIN_S). */
  x: Map<number, FlaggedDest>;
  /**
   * Destination host hash → its latest bulk senders, flat [agent hash, time (s)]
   * pairs, newest last (see `confirmMs`); absent until the first.
   */
  ad?: Map<number, number[]>;
  /** Agent-windows counted. */
  nw: number;
  /** Highest completed two-window sums of any agent, KiB (all / risky). */
  wm: number;
  rm: number;
  /** Highest completed half-hour pair sums of any agent, KiB (all / risky). */
  hm: number;
  qm: number;
  /** Highest completed two-window sum of any agent to familiar drop sites, KiB. */
  km: number;
  /** Highest completed familiar-surge pair of its agents (KiB); absent in older snapshots. */
  sm?: number;
}

type GroupRow = Omit<GroupEx, 'd' | 'k' | 'x' | 'ad'> & { d: [number, BulkDest][]; k?: [string, KnownDest][]; x?: [number, FlaggedDest][]; ad?: [number, number[]][] };

/** A finding on bulk data waiting to see whether the blueprint takes its destination up (see `confirmMs`). */
interface PendingSum extends DueItem {
  gid: string;
  dh: number;
  ah: number;
  /** The destination host (absent in older snapshots). */
  host?: string;
  /** When it was found (epoch ms). */
  t: number;
  d: Detection;
  /**
   * The hash of the token presented to an Azure Storage account, when one
   * was: its token event, delivered late, may yet show it is one the tenant
   * granted the agent (its own account, see tenantStorage). Absent otherwise.
   */
  tk?: number;
}

/** Bulk senders remembered per destination (pairs). */
const ADOPTERS = 6;

export const exfiltrationMeta: DetectorMeta = {
  id: 'exfiltration',
  title: 'Data exfiltration',
  severity: 'high',
  mitre: { id: 'T1567', name: 'Exfiltration Over Web Service' },
  description:
    "An agent sends far more data out than its own and its blueprint's high-water marks (log scale, in one transfer, " +
    'summed over 10 minutes to destinations new to its blueprint (neither one it uploads to nor, unless risky, one its agents call; nor a government host, by category or by name (.gov, .gov.uk, .gouv.fr, admin.ch...): a regulator\'s filing portal, an agency\'s file exchange, whose single transfers are low too; nor a private address: a copy to an internal share stays inside; nor, with the agent\'s own token, an Azure AI, Machine Learning, health data or container registry resource: the tenant\'s): 100 MB, or 10 MB when that is 20× anything the blueprint sent to new destinations before, 20 MB to risky ones or to agent endpoints outside the tenant, or trickled over an hour: 200 MB, 50 MB to risky ones), with lower thresholds towards file-sharing (online storage, file transfer... in any vendor\'s name), uncategorized, malicious and suspicious destinations (newly registered, dynamic DNS, anonymizers...); without any baseline, 1 GB to such destinations in one transfer or within 10 minutes. ' +
    'A single transfer to a familiar destination that is not a drop site (the blueprint\'s own storage, a service it works with) is low: the data stays with the organisation; gigabytes chunked to a file-sharing host the blueprint uses are medium at max(1 GB, 10× the most the agent or its blueprint sent there in 10 minutes), and so are tens of MB to the services it works with (not storage: its APIs, its model endpoint) at max(32 MB, 20× the most sent to them in 10 minutes; 16 MB when a request of 1 MB or more to a model provider reached without the tenant\'s token tops them up: uploads to its files API under a planted key; a transfer within 4× the largest the blueprint sent to that destination while it was new to it, an hour or more before, is its own volume: a partner file sent hourly since the stream began). ' +
    'Within 15 minutes after the agent called a secrets store, requests to a destination its blueprint works with of 16× the largest its agents ever sent there (4× after 20 such calls within 10 minutes: a vault read whole; 32 KiB or more each, 128 KiB in all; not storage, model providers, private addresses, nor the tenant\'s own Azure resources taking the agent\'s token: its registry, an image pushed) are medium: secrets read, then shipped (a poisoned MCP tool, a worm publishing a vault dump); so are such requests within 15 minutes after 4 MiB received from MCP servers within 10 minutes (private repositories read through a code host\'s tool, then written into a public pull request). ' +
    'Ten requests within 10 minutes to destinations inside the network (a private address) its blueprint works with but only reads, counted across them (its agents\' largest request there under 16 KiB), each 32 KiB or more, twice the answer and 8× that largest, are medium, confirmed like bulk data: records written where the blueprint never writes (stored data manipulation), or data pushed out through it. ' +
    'Six prompt-sized requests (8 KiB or more, more out than in) within 10 minutes to one model provider host that is no major provider\'s own API and not one the blueprint works with are medium: its model client pointed at a relay; so are six such tool calls to an MCP server the blueprint does not work with, 4 times what came back (data passed as tool arguments). ' +
    'Fifteen image fetches within 10 minutes to one host the blueprint does not work with, each sending 1.5 KiB or more and twice what came back, are medium: data carried out in image URLs (markdown images of an injected answer, EchoLeak); so are 6 tracking pixels (1 KiB or more out, a 256-byte answer or less) to one such host, or 12 to an image host it works with, not an analytics or advertising host (a poisoned memory appending the agent\'s context to a pixel after every model turn; an image host\'s name re-registered). ' +
    'A finding is confirmed 3 minutes later unless 3 agents of the blueprint send bulk data to its destination (a cut-over, a partner\'s initial sync); at once towards malicious and suspicious destinations. The same agent sending bulk data again to a destination it was flagged for, 90 minutes to 8 days later, runs a job the first finding put before an analyst (a syndication every two hours, a nightly backup): not reported again. ' +
    'Blocked attempts: 8 uploads carrying a file to 2 or more file-sharing, storage, uncategorized or risky destinations the blueprint does not use, all blocked by the gateway within 10 minutes, are medium (an exfiltration the DLP stopped). ' +
    'DNS tunnelling (not through the platform\'s own resolver or a private one): 100 DNS flows (port 53 or 853, or HTTPS to a public DNS-over-HTTPS resolver such as dns.google or cloudflare-dns.com, or to an image proxy that fetches any URL, such as GitHub\'s Camo) within 10 minutes to a name server or proxy the blueprint does not use is medium; so are 40 distinct encoded-looking host names (a first label of 30+ letters and digits, or 20+ with 3 digits) under one domain within 10 minutes, 20 when queried in DNS flows (data smuggled in names).',
};

export function createExfiltrationDetector(options: ExfiltrationOptions = {}): Detector {
  const o: Required<ExfiltrationOptions> = { ...DEFAULTS, ...options };
  const risky = new Set(o.riskyCategories.map(categoryKey));
  // 'file_sharing' stands for every vendor's name of it (online storage and backup, file transfer...).
  const fileSharingRisky = risky.has('file_sharing');

  /** A risky destination category: listed, malicious, suspicious (anonymizers, dynamic DNS...) or file sharing when listed. */
  function isRiskyCategory(cat: CategoryInfo): boolean {
    return risky.has(cat.key) || cat.malicious || cat.suspicious || (fileSharingRisky && cat.fileSharing);
  }
  const agents = new AgentStore<AgentEx>(o.maxAgents, true);
  const groups = new GroupStore<GroupEx>(o.maxAgents);
  /** The context of the event being observed (for group lookups). */
  let cx: DetectorContext = NO_CONTEXT;

  function group(tenant: string, gid: string, t: number): GroupEx {
    let g = groups.find(cx, tenant, gid);
    if (!g) {
      g = { at: t, f: Math.floor(t / 1000), h: new Array<number>(BUCKETS).fill(0), d: new Map(), k: new Map(), x: new Map(), nw: 0, wm: 0, rm: 0, hm: 0, qm: 0, km: 0, sm: 0 };
      groups.set(tenant, gid, g);
    } else if (t > g.at) g.at = t;
    return g;
  }

  /** Closes the agent's windows up to window `wi`, feeding completed sums (KiB) to its baselines. */
  function roll(tenant: string, s: AgentEx, wi: number, t: number): void {
    // A completed two-window sum enters the baselines one window late, and only
    // if no sum overlapping it exceeded a threshold: the first windows of a slow
    // exfiltration must not raise the bar before the sum crosses it.
    const pair = s.pp;
    const rpair = s.pr;
    const kpair = s.pk;
    const spair = s.ps;
    if ((pair > 0 || rpair > 0 || kpair > 0 || spair > 0) && (s.xw < s.pw - 1 || s.xw > s.pw + 1)) {
      const g = group(tenant, s.g, t);
      // During the group's cold start every destination is new: such sums would inflate the baselines.
      if (t - g.f * 1000 >= o.familiarAfterMs) {
        if (pair > s.wm) s.wm = pair;
        if (rpair > s.rm) s.rm = rpair;
        if (s.nw < 1e9) s.nw++;
        if (pair > g.wm) g.wm = pair;
        if (rpair > g.rm) g.rm = rpair;
      }
      if (kpair > s.km) s.km = kpair;
      if (kpair > g.km) g.km = kpair;
      if (spair > s.sm) s.sm = spair;
      if (spair > (g.sm ?? 0)) g.sm = spair;
    }
    s.pp = s.c0 + s.c1;
    s.pr = s.r0 + s.r1;
    s.pk = s.k0 + s.k1;
    s.ps = s.s0 + s.s1;
    s.pw = s.w;
    if (wi === s.w + 1) {
      s.c1 = s.c0;
      s.r1 = s.r0;
      s.d1 = s.d0;
      s.k1 = s.k0;
      s.s1 = s.s0;
    } else {
      s.c1 = 0;
      s.r1 = 0;
      s.d1 = 0;
      s.k1 = 0;
      s.s1 = 0;
    }
    s.d0 = 0;
    s.k0 = 0;
    s.s0 = 0;
    s.c0 = 0;
    s.r0 = 0;
    s.w = wi;
    s.mx = -1;
  }

  function learnDestination(g: GroupEx, dh: number, ah: number, t: number, kib: number): void {
    const sec = Math.floor(t / 1000);
    const d = g.d.get(dh);
    if (d !== undefined) {
      if (sec > d.l) d.l = sec;
      if (sec < d.f) d.f = sec;
      if (kib > (d.m ?? 0)) d.m = kib;
      if (ah !== d.a && (d.b === undefined || (d.b === ah && sec < d.o!))) {
        d.b = ah;
        d.o = sec;
      }
      return;
    }
    if (g.d.size >= o.maxBulkDestinations) {
      // Drop the least recently used eighth.
      const lasts: number[] = [];
      for (const v of g.d.values()) lasts.push(v.l);
      lasts.sort((x, y) => x - y);
      const cut = lasts[Math.max(0, (lasts.length >> 3) - 1)]!;
      for (const [k, v] of g.d) if (v.l <= cut) g.d.delete(k);
    }
    g.d.set(dh, { f: sec, l: sec, a: ah, m: kib });
  }

  /**
   * Whether another agent of the blueprint sent bulk data to the destination
   * (`d`, hash `dh`) peerFamiliarAfterMs or more before `t` and was not
   * flagged for it: the first agent seen there, or for that first agent
   * itself the second (a fleet's shared sink is not new to the agent that
   * happened to reach it first, once its peers have used it too).
   */
  function peerSent(g: GroupEx, d: BulkDest, dh: number, ah: number, t: number): boolean {
    const other = d.a !== ah ? d.a : d.b;
    const since = d.a !== ah ? d.f : d.o;
    return other !== undefined && since !== undefined && t - since * 1000 >= o.peerFamiliarAfterMs && g.x.get(dh)?.a !== other;
  }

  /**
   * Records a call of the agent (hash `ah`, computed when needed) to
   * `host`, and tells whether the host is one of the blueprint's working
   * destinations: called by 2 of its agents, the first call at least
   * familiarAfterMs ago. Bulk data to the blueprint's own search service,
   * model endpoint or Graph is the heavy tail of its work, not a drop site:
   * a thief's host has no history of calls from the blueprint's agents.
   * Agents under suspicion (see `suspect`) teach nothing.
   */
  function established(g: GroupEx, host: string, agentId: string, t: number, teach: boolean): boolean {
    const sec = Math.floor(t / 1000);
    const k = g.k.get(host);
    knownDest = k;
    if (k === undefined) {
      if (!teach) return false;
      if (g.k.size >= MAX_KNOWN_DESTINATIONS) {
        // Drop the least recently called eighth.
        const lasts: number[] = [];
        for (const v of g.k.values()) lasts.push(v.l);
        lasts.sort((x, y) => x - y);
        const cut = lasts[Math.max(0, (lasts.length >> 3) - 1)]!;
        for (const [h, v] of g.k) if (v.l <= cut) g.k.delete(h);
      }
      g.k.set(host, (knownDest = { f: sec, l: sec, a: hashString(agentId), n: 1 }));
      return false;
    }
    if (teach) {
      if (sec > k.l) k.l = sec;
      if (k.n < 2 && k.a !== hashString(agentId)) k.n = 2;
    }
    return k.n >= 2 && t - k.f * 1000 >= o.familiarAfterMs;
  }

  /** The destination record `established` last looked at (undefined when it has none). */
  let knownDest: KnownDest | undefined;

  /**
   * Secrets, then shipped: the agent called a secrets store within
   * shipWindowMs before, and sends a destination its blueprint works with
   * (`k`, established) a request 2^shipBuckets times the largest any of its
   * agents sent there (an MCP tool call carrying secrets in a parameter, a
   * worm publishing a vault dump to the code host it uses every day): the
   * KiB of such requests since the secrets call, medium at shipBytes.
   * Returns a detection, null (a shipment under the bar or in cooldown), or
   * undefined (no shipment: the request may teach the destination's size).
   */
  function shipped(e: NetworkEvent, s: AgentEx, k: KnownDest, cat: CategoryInfo, sec: number): Detection | null | undefined {
    const bytes = e.bytes_out;
    // The latest read that arms the watch: a secrets-store call, or a tool's worth of data (see noteToolRead).
    const byTool = s.tr !== undefined && s.tr > s.sr;
    const armed = byTool ? s.tr! : s.sr;
    if (bytes < o.shipMinBytes || k.b === undefined || sec < armed || (sec - armed) * 1000 > o.shipWindowMs) return undefined;
    const harvest = !byTool && s.sh !== undefined && sec >= s.sh && (sec - s.sh) * 1000 <= o.shipWindowMs;
    if (bucketOf(bytes) < k.b + (harvest ? o.harvestShipBuckets : o.shipBuckets)) return undefined;
    // Not where the data stays with the organisation or is meant to be large: its storage, a model's prompt context, a CDN.
    if (cat.modelProvider || cat.cdn || cat.storage || secretStoreHost(e.dest_host) || isPrivateAddress(e.dest_ip ?? e.dest_host)) return undefined;
    if (e.token_id !== null && azureTenantServiceHost(e.dest_host)) return undefined; // the tenant's own resource (its registry: an image pushed)
    s.sk += Math.floor(bytes / KIB);
    if (s.sk * KIB < o.shipBytes) return null;
    if (s.fx !== undefined && (sec - s.fx) * 1000 < o.cooldownMs) return null;
    s.fx = sec;
    const largest = bucketUpper(k.b);
    if (byTool) {
      return make(
        e,
        'medium',
        `Agent ${e.agent_id} received ${fmtBytes((s.tk ?? 0) * KIB)} from MCP tool servers within ${o.toolReadWindowMs / 60_000} min, ${formatDuration((sec - armed) * 1000)} before sending ${e.dest_host} (${e.category}) ${fmtBytes(s.sk * KIB)} in requests of up to ${fmtBytes(bytes)}, where its blueprint's agents never sent more than ${fmtBytes(largest)} at once: data read through a tool, then written out (a toxic agent flow: private repositories into a public pull request)`,
        {
          observed: { dest_host: e.dest_host, category: e.category, bytes_out: bytes, shipped_bytes: s.sk * KIB, tool_read_bytes: (s.tk ?? 0) * KIB, tool_read_at: armed * 1000 },
          baseline: { blueprint_largest_request_bytes: largest },
          threshold: `${fmtBytes(o.shipBytes)} in requests of ${fmtBytes(o.shipMinBytes)} or more, each ${2 ** o.shipBuckets}× the blueprint's largest there, within ${o.shipWindowMs / 60_000} min after ${fmtBytes(o.toolReadBytes)} read from MCP servers within ${o.toolReadWindowMs / 60_000} min`,
          peer_group: peerGroupName(e.blueprint_id ?? (s.g.charCodeAt(0) === 1 ? null : s.g)) ?? `agent:${e.agent_id}`,
          kind: 'tool-read-shipped',
          window_ms: o.shipWindowMs,
        },
        [e.event_id],
      );
    }
    return make(
      e,
      'medium',
      `Agent ${e.agent_id} called a secrets store ${formatDuration((sec - s.sr) * 1000)} before sending ${e.dest_host} (${e.category}) ${fmtBytes(s.sk * KIB)} in requests of up to ${fmtBytes(bytes)}, where its blueprint's agents never sent more than ${fmtBytes(largest)} at once: secrets read, then shipped to a destination it works with`,
      {
        observed: { dest_host: e.dest_host, category: e.category, bytes_out: bytes, shipped_bytes: s.sk * KIB, secrets_store_call: s.sr * 1000 },
        baseline: { blueprint_largest_request_bytes: largest },
        threshold: `${fmtBytes(o.shipBytes)} in requests of ${fmtBytes(o.shipMinBytes)} or more, each ${2 ** (harvest ? o.harvestShipBuckets : o.shipBuckets)}× the blueprint's largest there, within ${o.shipWindowMs / 60_000} min after a secrets-store call${harvest ? ` (after ${o.harvestCalls} of them within ${HARVEST_SPAN_S / 60} min)` : ''}`,
        peer_group: peerGroupName(e.blueprint_id ?? (s.g.charCodeAt(0) === 1 ? null : s.g)) ?? `agent:${e.agent_id}`,
        kind: 'secrets-shipped',
        window_ms: o.shipWindowMs,
      },
      [e.event_id],
    );
  }

  /**
   * Data received from an MCP server: toolReadBytes within toolReadWindowMs
   * arm the shipment watch (see shipped), as a secrets-store call does.
   */
  function noteToolRead(e: NetworkEvent, s: AgentEx): void {
    const sec = Math.floor(e.time / 1000);
    if (s.tq === undefined || sec < s.tq || (sec - s.tq) * 1000 > o.toolReadWindowMs) {
      s.tq = sec;
      s.tk = 0;
    }
    s.tk = (s.tk ?? 0) + Math.floor(e.bytes_in / KIB);
    if (s.tk * KIB >= o.toolReadBytes && (s.tr === undefined || sec > s.tr)) {
      if (s.tr === undefined || (sec - s.tr) * 1000 > o.shipWindowMs) s.sk = 0; // a new watch: nothing shipped yet
      s.tr = sec;
    }
  }

  /** Records agent `ah` sending bulk data to `dh` at `t` (for telling a blueprint-wide cut-over, see `confirmMs`). */
  function noteBulk(g: GroupEx, dh: number, ah: number, t: number): void {
    const sec = Math.floor(t / 1000);
    const ad = g.ad ?? (g.ad = new Map());
    let list = ad.get(dh);
    if (list === undefined) {
      if (ad.size >= o.maxBulkDestinations) ad.delete(ad.keys().next().value as number);
      ad.set(dh, (list = [ah, sec]));
      return;
    }
    for (let i = 0; i < list.length; i += 2) {
      if (list[i] === ah) {
        if (sec > list[i + 1]!) list[i + 1] = sec;
        return;
      }
    }
    if (list.length >= 2 * ADOPTERS) list.splice(0, 2);
    list.push(ah, sec);
  }

  /** Other agents of the group that sent bulk data to `dh` within deploymentWindowMs of `t`. */
  function otherSenders(g: GroupEx | undefined, dh: number, ah: number, t: number): number {
    const list = g?.ad?.get(dh);
    if (list === undefined) return 0;
    const sec = Math.floor(t / 1000);
    const span = o.deploymentWindowMs / 1000;
    let n = 0;
    for (let i = 0; i < list.length; i += 2) if (list[i] !== ah && Math.abs(list[i + 1]! - sec) <= span) n++;
    return n;
  }

  const pending = new DueQueue<PendingSum>(16_384);
  const relays = new TenantMap<HostBurst>(o.maxAgents);
  const beacons = new TenantMap<HostBurst>(o.maxAgents);
  const pixels = new TenantMap<HostBurst>(o.maxAgents);
  const writes = new TenantMap<HostBurst>(o.maxAgents);

  /**
   * Counts the agent's request in its burst to one host (two windows; a
   * request to another host starts over: each rule here is about one host).
   * Returns the burst when it reaches `limit` outside the cooldown, else null.
   */
  function hostBurst(map: TenantMap<HostBurst>, e: NetworkEvent, limit: number, anyHost = false): HostBurst | null {
    const t = e.time;
    let r = map.get(e.tenant_id, e.agent_id);
    if (r === undefined) {
      r = { at: t, n: 0, t0: t, host: e.dest_host, ids: [], fired: 0 };
      map.set(e.tenant_id, e.agent_id, r);
    } else if (t > r.at) r.at = t;
    if (t - r.t0 > 2 * o.windowMs || t < r.t0 || (r.host !== e.dest_host && !anyHost)) {
      r.n = 0;
      r.t0 = t;
      r.ids = [];
      r.host = e.dest_host;
      delete r.many;
    } else if (r.host !== e.dest_host) r.many = true;
    r.n++;
    if (r.ids.length < 8) r.ids.push(e.event_id);
    if (r.n < limit || (r.fired !== 0 && t - r.fired < o.cooldownMs)) return null;
    r.fired = t;
    return r;
  }

  function burstFinding(e: NetworkEvent, s: AgentEx, r: HostBurst, kind: string, summary: string, baseline: string, threshold: string): Detection {
    return make(
      e,
      'medium',
      summary,
      {
        observed: { dest_host: e.dest_host, dest_ip: e.dest_ip, category: e.category, file_type: e.file_type, requests: r.n, bytes_out: e.bytes_out, bytes_in: e.bytes_in, token: e.token_id !== null },
        baseline,
        threshold,
        peer_group: peerGroupName(e.blueprint_id ?? (s.g.charCodeAt(0) === 1 ? null : s.g)) ?? `agent:${e.agent_id}`,
        kind,
        window_ms: 2 * o.windowMs,
      },
      r.ids.slice(),
    );
  }

  /**
   * Prompts to a relay: an agent sends prompt-sized requests (relayPromptBytes
   * or more, more out than in) to a model provider that is neither a major
   * provider's own API nor one its blueprint works with: its LLM client's base
   * URL pointed at an attacker's OpenAI-compatible relay (a poisoned .env, a
   * swapped config), every prompt and the documents in it going there.
   * relayPrompts of them within two windows are medium (confirmed like a bulk
   * finding: 3 agents of the blueprint moving to the host is a provider switch).
   */
  function relayPromptsOf(e: NetworkEvent, s: AgentEx): Detection | null {
    const r = hostBurst(relays, e, o.relayPrompts);
    if (r === null) return null;
    return burstFinding(
      e,
      s,
      r,
      'relay-prompts',
      MCP_CATEGORIES.has(categoryKey(e.category))
        ? `Agent ${e.agent_id} sent ${r.n} tool calls (latest ${fmtBytes(e.bytes_out)} out, ${fmtBytes(e.bytes_in)} back) within ${formatDuration(e.time - r.t0)} to ${e.dest_host} (${e.category}), an MCP server its blueprint does not work with: data passed as tool arguments (a poisoned tool asking for it)`
        : `Agent ${e.agent_id} sent ${r.n} prompts (latest ${fmtBytes(e.bytes_out)} out) within ${formatDuration(e.time - r.t0)} to ${e.dest_host} (${e.category}), a model provider its blueprint does not work with and no major provider's own API: its model client pointed at a relay that reads every prompt`,
      "the model endpoints its blueprint works with (called by 2 of its agents for an hour) and the major providers' APIs",
      `${o.relayPrompts} requests of ${fmtBytes(o.relayPromptBytes)} or more, more out than in, within ${(2 * o.windowMs) / 60_000} min`,
    );
  }

  /**
   * Image requests carrying data: fetches of images (file_type png, gif...)
   * sending more than they get back (imageBeaconBytes or more out, twice
   * what came in) to one host the blueprint does not work with. An image
   * fetch sends a URL and gets pixels; these send kilobytes in their URLs and
   * get a tracking pixel back: markdown images the agent's answer embeds,
   * rendered by a client or a link preview, their URLs carrying the mailbox
   * (EchoLeak, CVE-2025-32711, and the markdown-image exfiltration of
   * prompt-injected assistants). imageBeacons of them within two windows are
   * medium, confirmed like a bulk finding.
   */
  function imageBeaconsOf(e: NetworkEvent, s: AgentEx): Detection | null {
    const r = hostBurst(beacons, e, o.imageBeacons);
    if (r === null) return null;
    return burstFinding(
      e,
      s,
      r,
      'image-beacons',
      `Agent ${e.agent_id} fetched ${r.n} images (${e.file_type}) within ${formatDuration(e.time - r.t0)} from ${e.dest_host} (${e.category}), a host its blueprint does not work with, each sending more than it got back (latest ${fmtBytes(e.bytes_out)} out, ${fmtBytes(e.bytes_in)} in): data carried out in image URLs`,
      'image fetches send a URL and get the image: less out than in',
      `${o.imageBeacons} image requests of ${fmtBytes(o.imageBeaconBytes)} or more out, twice what came back, within ${(2 * o.windowMs) / 60_000} min`,
    );
  }

  /**
   * Tracking pixels carrying data: image requests of pixelBytes or more whose
   * answer is a pixel (PIXEL_MAX_IN bytes or less). A pixel's URL names an
   * event, not a page of data; kilobytes of query string on every fetch, in
   * step with the agent's conversations, are its context leaving (a
   * poisoned memory appending member data to a pixel after every model turn;
   * an expired CDN name re-registered, the blueprint's image requests now
   * carrying data there). pixelBeacons of them to a host the blueprint does
   * not work with, familiarPixelBeacons to one it does, within two windows,
   * are medium, confirmed like a bulk finding.
   */
  function pixelBeaconsOf(e: NetworkEvent, s: AgentEx, familiar: boolean): Detection | null {
    const limit = familiar ? o.familiarPixelBeacons : o.pixelBeacons;
    const r = hostBurst(pixels, e, limit);
    if (r === null) return null;
    return burstFinding(
      e,
      s,
      r,
      'pixel-beacons',
      `Agent ${e.agent_id} fetched ${r.n} tracking pixels (${e.file_type}) within ${formatDuration(e.time - r.t0)} from ${e.dest_host} (${e.category}), ${familiar ? 'a host its blueprint works with' : 'a host its blueprint does not work with'}, each request carrying kilobytes (latest ${fmtBytes(e.bytes_out)} out) for an answer of a pixel (${fmtBytes(e.bytes_in)}): data carried out in pixel URLs`,
      'a pixel\'s URL names an event: a few hundred bytes',
      `${limit} image requests of ${fmtBytes(o.pixelBytes)} or more out answered with ${PIXEL_MAX_IN} B or less within ${(2 * o.windowMs) / 60_000} min (${o.pixelBeacons} to a host the blueprint does not work with, ${o.familiarPixelBeacons} to one it does; not analytics or advertising hosts)`,
    );
  }

  /**
   * Writes to a system the blueprint only reads: requests of writeMinBytes or
   * more (twice what came back) to a private address its blueprint works with
   * where its agents never sent a request of 16 KiB (a chromatography data
   * system, a historian, a ledger it queries), each 2^writeBuckets times the
   * largest there. `writes` of them within two windows are medium, confirmed
   * like a bulk finding (the blueprint's agents starting to write there
   * together is a release): results rewritten by an insider driving the
   * agent, records altered through a permission granted long ago and never
   * used (stored data manipulation), or data pushed out through the system.
   */
  function writesOf(e: NetworkEvent, s: AgentEx, k: KnownDest): Detection | null {
    // Counted across such systems: writes spread over two systems the blueprint only reads (recipes rewritten in
    // their store, then pushed to the tools' servers) are no less a change of the agent's part.
    const r = hostBurst(writes, e, o.writes, true);
    if (r === null) return null;
    const where = r.many === true ? `${r.host} and other systems its blueprint only reads, latest ${e.dest_host} (${e.category})` : `${e.dest_host} (${e.category}), a system its blueprint only reads`;
    return burstFinding(
      e,
      s,
      r,
      'writes-to-reader',
      `Agent ${e.agent_id} sent ${r.n} write-sized requests within ${formatDuration(e.time - r.t0)} to ${where} (its largest request there: under ${fmtBytes(bucketUpper(k.b!))}; latest ${fmtBytes(e.bytes_out)} out, ${fmtBytes(e.bytes_in)} back): records written where it never writes (stored data manipulation), or data pushed out through it`,
      `its agents' requests there never reached ${fmtBytes(bucketUpper(k.b!))}`,
      `${o.writes} requests of ${fmtBytes(o.writeMinBytes)} or more, twice what came back and ${2 ** o.writeBuckets}× the blueprint's largest there, within ${(2 * o.windowMs) / 60_000} min, to a destination it works with where its largest request was under ${fmtBytes(2 * READER_MAX_BYTES)}`,
    );
  }

  const tunnels = new NameTunnelWatch(2 * o.windowMs, o.tunnelNames);

  /** The agent's allowed call to an encoded-looking host name: a name tunnel once enough distinct names pile up under one domain. */
  function checkNameTunnel(e: NetworkEvent): Detection | null {
    const hit = tunnels.observe(e);
    if (hit === null) return null;
    return make(
      e,
      'medium',
      `Agent ${e.agent_id} called ${hit.names} distinct encoded-looking host names under ${hit.domain}${hit.dns > 0 ? ` (${hit.dns} of them in DNS queries)` : ''} within ${formatDuration(e.time - hit.since)} (data smuggled in names: a tunnel)`,
      {
        observed: { distinct_names: hit.names, dns_names: hit.dns, domain: hit.domain, last_host: e.dest_host, dest_ip: e.dest_ip, category: e.category, since: hit.since },
        baseline: 'host names chosen by people or products, not random labels of 20-30+ characters',
        threshold: o.tunnelNames,
        peer_group: peerGroupName(e.blueprint_id) ?? `agent:${e.agent_id}`,
        kind: 'name-tunnel',
        window_ms: 2 * o.windowMs,
      },
      [...hit.ids, e.event_id].slice(-8),
    );
  }

  /** A waiting finding whose time came: reported unless the blueprint took its destination up meanwhile. */
  function decide(p: PendingSum): Detection | null {
    // The token event of the storage token it presented, delivered after the upload, shows the tenant granted it: its own account.
    if (p.tk !== undefined) {
      const s = agents.peek(p.tenant_id, p.agent_id);
      if (s !== undefined && (s.st === p.tk || s.sp === p.tk)) return null;
    }
    const g = groups.get(p.tenant_id, p.gid);
    const others = otherSenders(g, p.dh, p.ah, p.t);
    if (others + 1 >= o.deploymentAgents) {
      if (g !== undefined) adoptDeployment(g, p);
      return null;
    }
    const minutes = Math.round(o.confirmMs / 60_000);
    return {
      ...p.d,
      time: p.due,
      summary: `${p.d.summary}; no other agent of its blueprint took the destination up within ${minutes} min`,
      evidence: { ...p.d.evidence, confirmation: { confirm_s: o.confirmMs / 1000, other_senders: others, deployment_agents: o.deploymentAgents } },
    };
  }

  /**
   * A window or half-hour sum over its threshold: held for confirmation (and
   * the agent flagged for the destination) when the transfer that topped it up
   * is bulk data, or when other agents of the blueprint lately sent bulk data
   * to its destination (a cut-over under way, topped up by one of its small
   * calls: a poll, a status check); else reported at once.
   */
  function holdSum(d: Detection, e: NetworkEvent, s: AgentEx, g: GroupEx | undefined, bulk: boolean, dh: number, ah: number, cat: CategoryInfo): Detection[] {
    if (!bulk) {
      dh = hashString(e.dest_host);
      ah = hashString(e.agent_id);
      if (otherSenders(g, dh, ah, e.time) === 0) return [d];
      g ??= group(e.tenant_id, s.g, e.time);
    }
    flagged(g!, dh, ah, e.time);
    return confirmLater(d, e, s, dh, ah, cat);
  }

  /**
   * A blueprint-wide cut-over's destination is the blueprint's from now on
   * (as if it had used it for familiarAfterMs): its agents, each of them
   * held back as "flagged" while it was judged, would otherwise teach it
   * nothing and be judged again on it once their cooldowns end.
   */
  function adoptDeployment(g: GroupEx, p: PendingSum): void {
    const sec = Math.floor(p.t / 1000);
    const since = sec - Math.ceil(o.familiarAfterMs / 1000);
    const d = g.d.get(p.dh);
    if (d !== undefined && d.f > since) d.f = since;
    if (p.host === undefined) return;
    const k = g.k.get(p.host);
    if (k !== undefined) {
      k.n = 2;
      if (k.f > since) k.f = since;
      if (sec > k.l) k.l = sec;
    } else if (g.k.size < MAX_KNOWN_DESTINATIONS) g.k.set(p.host, { f: since, l: sec, a: p.ah, n: 2 });
  }

  /**
   * Holds a finding on bulk data sent to a destination for confirmMs (see
   * `confirmMs`); returns the detections to report now. A destination with a
   * verdict against it (malicious, or an anonymizer, dynamic DNS, a newly
   * registered domain) is reported at once: no deployment goes there.
   */
  function confirmLater(d: Detection, e: NetworkEvent, s: AgentEx, dh: number, ah: number, cat: CategoryInfo): Detection[] {
    if (o.confirmMs <= 0 || cat.malicious || cat.suspicious) return [d];
    const p: PendingSum = { tenant_id: e.tenant_id, agent_id: e.agent_id, due: e.time + o.confirmMs, gid: s.g, dh, ah, t: e.time, d, host: e.dest_host };
    if (e.token_id !== null && isAzureStorageHost(e.dest_host)) p.tk = hashString(e.token_id);
    pending.add(p);
    return NO_DETECTIONS;
  }

  /** Remembers that agent `ah` was flagged sending bulk data to `dh` (the first time: a recurrence is measured from it). */
  function flagged(g: GroupEx, dh: number, ah: number, t: number): void {
    const sec = Math.floor(t / 1000);
    const f = g.x.get(dh);
    if (f !== undefined && f.a === ah && sec - f.t <= RECURRENCE_MAX_S) return;
    if (g.x.size >= MAX_FLAGGED_DESTINATIONS && f === undefined) {
      let oldest = -1;
      let oldestT = Infinity;
      for (const [k, v] of g.x) if (v.t < oldestT) (oldest = k), (oldestT = v.t);
      g.x.delete(oldest);
    }
    g.x.set(dh, { a: ah, t: sec });
  }

  /** The agent repeats, on a schedule, a bulk transfer it was flagged for (see RECURRENCE_MIN_S). */
  function recurring(g: GroupEx, dh: number, ah: number, t: number): boolean {
    const f = g.x.get(dh);
    if (f === undefined || f.a !== ah) return false;
    const gap = Math.floor(t / 1000) - f.t;
    return gap >= RECURRENCE_MIN_S && gap <= RECURRENCE_MAX_S;
  }

  function groupQuantileUpper(g: GroupEx): number {
    let total = 0;
    for (let i = 0; i < BUCKETS; i++) total += g.h[i]!;
    const target = Math.ceil(o.groupQuantile * total);
    let acc = 0;
    for (let i = 0; i < BUCKETS; i++) {
      acc += g.h[i]!;
      if (acc >= target) return bucketUpper(i);
    }
    return bucketUpper(BUCKETS - 1);
  }

  /**
   * Whether a fire at `sec` falls in the cooldown of the last one of its kind
   * (at `last`, high when `lastHigh` is 1): only a medium growing into a high
   * fires again within it.
   */
  /**
   * The agent fired within the cooldown: its transfers teach its blueprint no
   * bulk destination (the destination may be the thief's, and would then be
   * familiar to every other agent of the blueprint, a second victim included).
   */
  function suspect(s: AgentEx, sec: number): boolean {
    const c = o.cooldownMs / 1000;
    return sec - s.ft < c || sec - s.fc < c || sec - s.fs < c;
  }

  function cooling(sec: number, last: number, lastHigh: number, high: boolean): boolean {
    return Math.abs(sec - last) * 1000 < o.cooldownMs && (lastHigh === 1 || !high);
  }

  function make(e: NetworkEvent, severity: Severity, summary: string, evidence: Detection['evidence'], ids: string[]): Detection {
    return { detector: exfiltrationMeta.id, severity, tenant_id: e.tenant_id, agent_id: e.agent_id, time: e.time, summary, evidence, event_ids: ids };
  }

  function checkTransfer(e: NetworkEvent, s: AgentEx, isRisky: boolean, familiar: boolean, gov: boolean): Detection | null | undefined {
    // Returns a detection, null (exceeded but in cooldown), or undefined (normal).
    const bytes = e.bytes_out;
    const agentBase = s.n >= o.minAgentSamples ? bucketUpper(s.top) : 0;
    const g = groups.find(cx, e.tenant_id, s.g);
    const groupBase = g !== undefined && g.nw >= o.minGroupWindows ? groupQuantileUpper(g) : 0;
    const base = Math.max(agentBase, groupBase);
    const min = isRisky ? o.minBytesRisky : o.minBytes;
    let threshold: number;
    if (base === 0) {
      if (!isRisky || bytes < o.absoluteBytesRisky) return undefined;
      threshold = o.absoluteBytesRisky;
    } else {
      threshold = Math.max(min, (isRisky ? o.multipleRisky : o.multiple) * base) * (familiar ? o.familiarFactor : 1);
      if (bytes < threshold) return undefined;
    }
    const sec = Math.floor(e.time / 1000);
    if (Math.abs(sec - s.ft) * 1000 < o.cooldownMs) return null;
    s.ft = sec;
    // Towards a familiar destination that is not a drop site (the blueprint's own storage account,
    // a service it works with), the data stays with the organisation: an outlier of the heavy
    // tail (a monthly full backup, a re-index), low; towards a familiar file-sharing site, medium.
    // Towards a government host (an agency's file exchange taking a compelled production, whatever
    // the gateway's category for it), low: no attacker registers a name there.
    const severity: Severity = (familiar && !isRisky) || gov ? 'low' : base === 0 || familiar ? 'medium' : isRisky || bytes >= 10 * threshold ? 'high' : 'medium';
    return make(
      e,
      severity,
      `Agent ${e.agent_id} sent ${fmtBytes(bytes)} to ${familiar ? '' : 'new destination '}${e.dest_host} (${e.category}) in one transfer, ` +
        `${base > 0 ? `${(bytes / base).toFixed(0)}× its baseline of ${fmtBytes(base)}` : 'with no baseline yet'}`,
      {
        observed: { bytes_out: bytes, dest_host: e.dest_host, category: e.category, file_type: e.file_type, familiar_destination: familiar },
        baseline: {
          agent_high_water_bytes: agentBase || null,
          agent_typical_bytes: s.n > 0 ? Math.round(2 ** (s.lg / 16 + 6.5)) : null,
          agent_transfers: s.n,
          group_p99_bytes: groupBase || null,
          group_agent_windows: g?.nw ?? 0,
        },
        threshold,
        peer_group: peerGroupName(e.blueprint_id ?? (s.g.charCodeAt(0) === 1 ? null : s.g)) ?? `agent:${e.agent_id}`,
        kind: 'transfer',
      },
      [e.event_id],
    );
  }

  /** The lowest 10-min sum that can fire (the quiet floor when lower): below it no check is needed. */
  const windowGate = Math.min(o.minWindowBytes, o.minWindowBytesQuiet);

  function checkWindow(e: NetworkEvent, s: AgentEx, wi: number): Detection | null | undefined {
    const tot = (s.c0 + s.c1) * KIB;
    const rtot = (s.r0 + s.r1) * KIB;
    const agentOk = s.nw >= o.minAgentWindows && e.time - s.f * 1000 >= o.minAgentHistoryMs;
    // Quick reject on the agent's own baseline (the threshold is at least this).
    if (agentOk && tot < o.windowMultiple * s.wm * KIB && rtot < o.windowMultipleRisky * s.rm * KIB) return undefined;
    const g = groups.find(cx, e.tenant_id, s.g);
    // Cold start (a blueprint under an hour old: every destination looks new)
    // or no baseline yet: only the absolute floor for risky destinations
    // applies, as for a single transfer (a young agent shipping gigabytes to a
    // file-sharing site in minutes needs no baseline).
    const cold = g === undefined || e.time - g.f * 1000 < o.familiarAfterMs;
    const groupOk = !cold && g.nw >= o.minGroupWindows;
    const judged = !cold && (agentOk || groupOk);
    if (!judged && rtot < o.absoluteBytesRisky) return undefined;
    const base = judged ? Math.max(agentOk ? s.wm : 0, groupOk ? g!.wm : 0) * KIB : 0;
    const rbase = judged ? Math.max(agentOk ? s.rm : 0, groupOk ? g!.rm : 0) * KIB : 0;
    const thr = judged ? Math.min(Math.max(o.minWindowBytes, o.windowMultiple * base), Math.max(o.minWindowBytesQuiet, o.quietMultiple * base)) : Infinity;
    const rthr = judged ? Math.max(o.minWindowBytesRisky, o.windowMultipleRisky * rbase) : o.absoluteBytesRisky;
    const overAll = tot >= thr;
    const overRisky = rtot >= rthr;
    if (!overAll && !overRisky) return undefined;
    s.xw = wi;
    const sec = Math.floor(e.time / 1000);
    const high = overRisky && rtot >= o.highWindowBytesRisky;
    if (cooling(sec, s.fc, s.fv, high)) return null;
    s.fc = sec;
    s.fv = high ? 1 : 0;
    const isRiskyKind = overRisky;
    return make(
      e,
      high ? 'high' : 'medium',
      isRiskyKind
        ? `Agent ${e.agent_id} sent ${fmtBytes(rtot)} to risky destinations new to its blueprint (file sharing, uncategorized, suspicious, external agents; last ${e.dest_host}) within ${(2 * o.windowMs) / 60_000} min (baseline ${fmtBytes(rbase)})`
        : `Agent ${e.agent_id} sent ${fmtBytes(tot)} to destinations new to its blueprint within ${(2 * o.windowMs) / 60_000} min (baseline ${fmtBytes(base)})`,
      {
        observed: { window_new_dest_bytes_out: tot, window_risky_bytes_out: rtot, last_dest_host: e.dest_host, last_category: e.category },
        baseline: {
          agent_max_window_bytes: agentOk ? s.wm * KIB : null,
          agent_max_window_risky_bytes: agentOk ? s.rm * KIB : null,
          agent_windows: s.nw,
          group_max_window_bytes: groupOk ? g!.wm * KIB : null,
          group_max_window_risky_bytes: groupOk ? g!.rm * KIB : null,
          group_agent_windows: g?.nw ?? 0,
        },
        threshold: isRiskyKind ? rthr : thr,
        peer_group: peerGroupName(e.blueprint_id ?? (s.g.charCodeAt(0) === 1 ? null : s.g)) ?? `agent:${e.agent_id}`,
        kind: 'window',
        window_ms: 2 * o.windowMs,
      },
      [e.event_id],
    );
  }

  /**
   * Bulk chunked to a familiar drop site: the 10-minute sum to file-sharing
   * hosts the blueprint uploads to, against the highest such sum of the
   * agent and of its blueprint (its regular syncs there).
   */
  function checkFamiliarDrop(e: NetworkEvent, s: AgentEx): Detection | null | undefined {
    const tot = (s.k0 + s.k1) * KIB;
    const g = groups.find(cx, e.tenant_id, s.g);
    const agentOk = s.nw >= o.minAgentWindows && e.time - s.f * 1000 >= o.minAgentHistoryMs;
    const groupOk = g !== undefined && g.nw >= o.minGroupWindows;
    if (!agentOk && !groupOk) return undefined;
    const agentBase = agentOk ? s.km * KIB : 0;
    const groupBase = groupOk ? g.km * KIB : 0;
    const base = Math.max(agentBase, groupBase);
    return familiarSum(e, s, tot, Math.max(o.familiarDropBytes, o.familiarDropMultiple * base), () => [
      `Agent ${e.agent_id} sent ${fmtBytes(tot)} to ${e.dest_host} (${e.category}), a file-sharing destination its blueprint uses, within ${(2 * o.windowMs) / 60_000} min (its blueprint's most there: ${fmtBytes(base)})`,
      { window_familiar_drop_bytes_out: tot, last_dest_host: e.dest_host, last_category: e.category, familiar_destination: true },
      { agent_max_window_familiar_drop_bytes: agentOk ? agentBase : null, group_max_window_familiar_drop_bytes: groupOk ? groupBase : null, group_agent_windows: g?.nw ?? 0 },
    ]);
  }

  /**
   * Bulk chunked to destinations the blueprint works with (not drop sites,
   * not storage): the 10-minute sum against the highest such sum of the
   * agent and of its blueprint. Documents posted to its search service or
   * prompts to its model endpoint are its work; twenty times the most it
   * or any agent of its blueprint ever sent there in ten minutes is not.
   */
  function checkFamiliarSurge(e: NetworkEvent, s: AgentEx): Detection | null | undefined {
    const tot = (s.s0 + s.s1) * KIB;
    // No history gate: a familiar destination is one the blueprint has worked with for an hour already.
    const g = groups.find(cx, e.tenant_id, s.g);
    const agentBase = s.sm * KIB;
    const groupBase = (g?.sm ?? 0) * KIB;
    const base = Math.max(agentBase, groupBase);
    const floor = modelUpload(e, categoryInfo(e.category)) ? o.familiarSurgeBytesModel : o.familiarSurgeBytes;
    return familiarSum(e, s, tot, Math.max(floor, o.familiarSurgeMultiple * base), () => [
      `Agent ${e.agent_id} sent ${fmtBytes(tot)} to destinations its blueprint works with (latest ${e.dest_host}, ${e.category}) within ${(2 * o.windowMs) / 60_000} min, ${base > 0 ? `${Math.round(tot / base)}× the most it or its blueprint sent there in 10 min (${fmtBytes(base)})` : 'where it and its blueprint never sent more than a few kB'}`,
      { window_familiar_bytes_out: tot, last_dest_host: e.dest_host, last_category: e.category, familiar_destination: true },
      { agent_max_window_familiar_bytes: agentBase, group_max_window_familiar_bytes: groupBase },
    ]);
  }

  /** A 10-minute sum to familiar destinations over its threshold: medium (once per cooldown), described by `describe`. */
  function familiarSum(e: NetworkEvent, s: AgentEx, tot: number, thr: number, describe: () => [string, Record<string, unknown>, Record<string, unknown>]): Detection | null | undefined {
    if (tot < thr) return undefined;
    const sec = Math.floor(e.time / 1000);
    if (cooling(sec, s.fc, s.fv, false)) return null;
    s.fc = sec;
    s.fv = 0;
    const [summary, observed, baseline] = describe();
    return make(
      e,
      'medium',
      summary,
      {
        observed,
        baseline,
        threshold: thr,
        peer_group: peerGroupName(e.blueprint_id ?? (s.g.charCodeAt(0) === 1 ? null : s.g)) ?? `agent:${e.agent_id}`,
        kind: 'window',
        window_ms: 2 * o.windowMs,
      },
      [e.event_id],
    );
  }

  /**
   * Moves the agent's half-hour sums on to half-hour `hi`. The pair completed
   * at the previous roll enters the hour baselines now, unless the slow check
   * fired since it began (a trickle must not raise its own bar).
   */
  function rollHalfHour(tenant: string, s: AgentEx, hi: number, t: number): void {
    if ((s.ph > 0 || s.pq > 0) && s.fs * 1000 < (s.hw - 1) * HALF_HOUR_MS) {
      const g = group(tenant, s.g, t);
      if (t - g.f * 1000 >= o.familiarAfterMs) {
        if (s.ph > s.hm) s.hm = s.ph;
        if (s.pq > s.qm) s.qm = s.pq;
        if (s.ph > g.hm) g.hm = s.ph;
        if (s.pq > g.qm) g.qm = s.pq;
      }
    }
    s.ph = s.h0 + s.h1;
    s.pq = s.q0 + s.q1;
    const next = hi === s.hw + 1;
    s.h1 = next ? s.h0 : 0;
    s.q1 = next ? s.q0 : 0;
    s.h0 = 0;
    s.q0 = 0;
    s.hw = hi;
  }

  /** The slow check: the sums of the current and previous half-hour to unfamiliar destinations against their baselines. */
  function checkSlow(e: NetworkEvent, s: AgentEx): Detection | null | undefined {
    const tot = (s.h0 + s.h1) * KIB;
    const rtot = (s.q0 + s.q1) * KIB;
    const g = groups.find(cx, e.tenant_id, s.g);
    // As for windows: a blueprint under an hour old has no familiar destinations yet, and a baseline is needed.
    if (g === undefined || e.time - g.f * 1000 < o.familiarAfterMs) return undefined;
    const agentOk = s.nw >= o.minAgentWindows && e.time - s.f * 1000 >= o.minAgentHistoryMs;
    const groupOk = g.nw >= o.minGroupWindows;
    if (!agentOk && !groupOk) return undefined;
    const base = Math.max(agentOk ? s.hm : 0, groupOk ? g.hm : 0) * KIB;
    const rbase = Math.max(agentOk ? s.qm : 0, groupOk ? g.qm : 0) * KIB;
    const thr = Math.max(o.minSlowBytes, o.slowMultiple * base);
    const rthr = Math.max(o.minSlowBytesRisky, o.slowMultiple * rbase);
    const overRisky = rtot >= rthr;
    if (!overRisky && tot < thr) return undefined;
    const sec = Math.floor(e.time / 1000);
    const high = overRisky && rtot >= o.highSlowBytesRisky;
    if (cooling(sec, s.fs, s.sv, high)) return null;
    s.fs = sec;
    s.sv = high ? 1 : 0;
    return make(
      e,
      high ? 'high' : 'medium',
      overRisky
        ? `Agent ${e.agent_id} trickled ${fmtBytes(rtot)} to risky destinations new to its blueprint (file sharing, uncategorized, suspicious, external agents; last ${e.dest_host}) within the hour, under every 10-min threshold (baseline ${fmtBytes(rbase)} per hour)`
        : `Agent ${e.agent_id} trickled ${fmtBytes(tot)} to destinations new to its blueprint within the hour, under every 10-min threshold (baseline ${fmtBytes(base)} per hour)`,
      {
        observed: { slow_new_dest_bytes_out: tot, slow_risky_bytes_out: rtot, last_dest_host: e.dest_host, last_category: e.category },
        baseline: {
          agent_max_hour_bytes: agentOk ? s.hm * KIB : null,
          agent_max_hour_risky_bytes: agentOk ? s.qm * KIB : null,
          group_max_hour_bytes: groupOk ? g.hm * KIB : null,
          group_max_hour_risky_bytes: groupOk ? g.qm * KIB : null,
          group_agent_windows: g.nw,
        },
        threshold: overRisky ? rthr : thr,
        peer_group: peerGroupName(e.blueprint_id ?? (s.g.charCodeAt(0) === 1 ? null : s.g)) ?? `agent:${e.agent_id}`,
        kind: 'slow',
        window_ms: 2 * HALF_HOUR_MS,
      },
      [e.event_id],
    );
  }

  /**
   * Counts a DNS flow to a name server the blueprint does not use, whatever
   * its category; fires once the 10-minute window holds dnsFlows of them (DNS
   * tunnelling), once per cooldown. The name server is the address queried
   * (dest_ip; dest_host when there is none): a gateway may name a DNS flow by
   * the name looked up, and lookups of ever-new names through the
   * blueprint's own resolver (hash-reputation queries) are its own traffic.
   * A DoH resolver is its host name: its address may be a CDN's, shared
   * with every site behind it.
   */
  function checkDns(e: NetworkEvent, s: AgentEx, wi: number, channel: RequestChannel): Detection | null {
    const t = e.time;
    const g = group(e.tenant_id, s.g, t);
    const doh = channel !== RequestChannel.Dns;
    const server = doh ? e.dest_host : (e.dest_ip ?? e.dest_host);
    // The platform's own resolver (Azure's 168.63.129.16, a VPC's link-local one) or one inside the network (a
    // cluster's CoreDNS) is every workload's default: a blueprint starting to query it is no new name server.
    if (!doh && (isPlatformResolver(server) || isPrivateAddress(server))) return null;
    if (established(g, server, e.agent_id, t, !suspect(s, Math.floor(t / 1000)))) return null;
    if (wi === s.w) s.d0++;
    else if (wi === s.w - 1) s.d1++;
    else return null;
    const flows = s.d0 + s.d1;
    if (flows < o.dnsFlows) return null;
    const sec = Math.floor(t / 1000);
    if (Math.abs(sec - s.fd) * 1000 < o.cooldownMs) return null;
    s.fd = sec;
    const proxy = channel === RequestChannel.ImageProxy;
    return make(
      e,
      'medium',
      proxy
        ? `Agent ${e.agent_id} made ${flows} requests to the image proxy ${e.dest_host} within ${(2 * o.windowMs) / 60_000} min, which its blueprint does not use: data sent in the order of image fetches (a pixel tunnel through a host every policy allows)`
        : `Agent ${e.agent_id} made ${flows} DNS flows to ${e.dest_host}${e.dest_ip ? ` (${e.dest_ip})` : ''} on port ${e.dest_port}${doh ? ' (DNS over HTTPS)' : ''} within ${(2 * o.windowMs) / 60_000} min, a name server its blueprint does not use (DNS tunnelling)`,
      {
        observed: { dns_flows: flows, dest_host: e.dest_host, dest_ip: e.dest_ip, dest_port: e.dest_port, category: e.category, ...(proxy ? { image_proxy: true } : doh ? { dns_over_https: true } : {}) },
        baseline: 'DNS to the name servers the blueprint\'s agents use',
        threshold: o.dnsFlows,
        peer_group: peerGroupName(e.blueprint_id ?? (s.g.charCodeAt(0) === 1 ? null : s.g)) ?? `agent:${e.agent_id}`,
        kind: 'dns',
        window_ms: 2 * o.windowMs,
      },
      [e.event_id],
    );
  }

  /**
   * A call the gateway blocked: counted when it was an upload carrying a
   * file (file_type) to a file-sharing, storage, uncategorized or risky
   * destination the blueprint does not work with; blockedUploads of them to
   * blockedUploadHosts distinct hosts within 10 minutes is medium: data the
   * agent tried to take out, stopped by the DLP. Nothing left, but an agent
   * retrying across several drop sites is not a policy its blueprint runs
   * into (that one is its everyday destination, blocked for every agent).
   */
  function onBlocked(e: NetworkEvent, ctx: DetectorContext): Detection[] {
    if (e.file_type === null || e.bytes_out < o.blockedUploadMinBytes || e.threat !== 'none' || e.dest_agent_id !== null) return NO_DETECTIONS;
    const cat = categoryInfo(e.category);
    if (!(isRiskyCategory(cat) || cat.fileSharing || cat.key === 'storage')) return NO_DETECTIONS;
    cx = ctx;
    const t = e.time;
    const s = agents.get(ctx, e.tenant_id, e.agent_id);
    // An agent never seen sending anything: no blueprint to hold the destination against yet.
    if (!s) return NO_DETECTIONS;
    if (established(group(e.tenant_id, s.g, t), e.dest_host, e.agent_id, t, false)) return NO_DETECTIONS;
    const sec = Math.floor(t / 1000);
    const span = (2 * o.windowMs) / 1000;
    const bu = (s.bu ??= []);
    let k = 0;
    while (k < bu.length && sec - bu[k]! > span) k += 2;
    if (k > 0) bu.splice(0, k);
    if (bu.length >= 64) bu.splice(0, 2);
    bu.push(sec, hashString(e.dest_host));
    const attempts = bu.length / 2;
    if (attempts < o.blockedUploads) return NO_DETECTIONS;
    const hosts: number[] = [];
    for (let i = 1; i < bu.length; i += 2) if (!hosts.includes(bu[i]!)) hosts.push(bu[i]!);
    if (hosts.length < o.blockedUploadHosts) return NO_DETECTIONS;
    if (s.fb !== undefined && Math.abs(sec - s.fb) * 1000 < o.cooldownMs) return NO_DETECTIONS;
    s.fb = sec;
    return [
      make(
        e,
        'medium',
        `Agent ${e.agent_id} tried ${attempts} uploads of files to ${hosts.length} destinations its blueprint does not use within ${(2 * o.windowMs) / 60_000} min, all blocked by the gateway (last ${e.file_type} to ${e.dest_host}, ${e.category}): an exfiltration attempt the DLP stopped`,
        {
          observed: { blocked_uploads: attempts, distinct_hosts: hosts.length, last_host: e.dest_host, category: e.category, file_type: e.file_type, bytes_out: e.bytes_out },
          baseline: 'uploads the gateway blocks on the blueprint\'s own destinations are its policy; none to drop sites it never used',
          threshold: { blocked_uploads: o.blockedUploads, distinct_hosts: o.blockedUploadHosts },
          peer_group: peerGroupName(e.blueprint_id ?? (s.g.charCodeAt(0) === 1 ? null : s.g)) ?? `agent:${e.agent_id}`,
          kind: 'blocked',
          window_ms: 2 * o.windowMs,
        },
        [e.event_id],
      ),
    ];
  }

  /** A storage token the tenant granted the agent: uploads presenting it go to the tenant's own accounts (see tenantStorage). */
  function onToken(e: TokenEvent, ctx: DetectorContext): void {
    if (e.decision !== 'granted' || resourceHash(e.resource) !== STORAGE_RESOURCE_HASH) return;
    let s = agents.get(ctx, e.tenant_id, e.agent_id);
    if (!s) {
      s = newAgentState(peerGroupId(e.blueprint_id, e.agent_id), e.time, o.windowMs);
      setAtMs(s, e.time);
      agents.set(ctx, e.tenant_id, e.agent_id, s);
    }
    const h = hashString(e.token_id);
    if (h !== s.st) {
      s.sp = s.st ?? 0;
      s.st = h;
    }
  }

  function onNetwork(e: NetworkEvent, ctx: DetectorContext): Detection[] {
    if (e.action !== 'allowed') return e.action === 'blocked' ? onBlocked(e, ctx) : NO_DETECTIONS;
    cx = ctx;
    const t = e.time;
    const bytes = e.bytes_out;
    let s = agents.get(ctx, e.tenant_id, e.agent_id);
    if (!s) {
      s = newAgentState(peerGroupId(e.blueprint_id, e.agent_id), t, o.windowMs);
      setAtMs(s, t);
      agents.set(ctx, e.tenant_id, e.agent_id, s);
    } else {
      if (t > atMs(s)) setAtMs(s, t);
      if (t < s.f * 1000) s.f = Math.floor(t / 1000);
    }
    if (secretStoreHost(e.dest_host)) {
      const sec = Math.floor(t / 1000);
      if ((sec - s.sr) * 1000 > o.shipWindowMs) s.sk = 0;
      if (s.sq === undefined || sec - s.sq >= HARVEST_SPAN_S || sec < s.sq) {
        s.sq = sec;
        s.sn = 0;
      }
      s.sn = (s.sn ?? 0) + 1;
      if (s.sn >= o.harvestCalls) s.sh = sec;
      if (sec > s.sr) s.sr = sec;
    }
    if (e.bytes_in >= TOOL_READ_MIN_BYTES && e.action === 'allowed' && MCP_CATEGORIES.has(categoryKey(e.category))) noteToolRead(e, s);
    const cat = categoryInfo(e.category);
    // Anonymizers, dynamic DNS and newly registered hosts are where a thief drops data without a verdict on them.
    const isRisky = isRiskyCategory(cat);
    const wi = Math.floor(t / o.windowMs);
    if (wi > s.w) roll(e.tenant_id, s, wi, t);

    // Bulk transfers: is the destination one the peer group already sends bulk data to?
    let g: GroupEx | undefined;
    let dh = 0;
    let ah = 0;
    let familiar = false;
    const bulk = bytes >= o.bulkBytes;
    if (bulk) {
      g = group(e.tenant_id, s.g, t);
      dh = hashString(e.dest_host);
      ah = hashString(e.agent_id);
      const d = g.d.get(dh);
      familiar = d !== undefined && (t - d.f * 1000 >= o.familiarAfterMs || peerSent(g, d, dh, ah, t));
      if (!familiar && g.x.size !== 0 && recurring(g, dh, ah, t)) familiar = true;
      noteBulk(g, dh, ah, t);
    }
    if (bulk && !familiar && !isRisky && tenantStorage(e, s, ctx)) familiar = true;
    // So is an Azure AI, Machine Learning, health data or container registry service taking the agent's own token (see AZURE_TENANT_SERVICE_DOMAINS).
    if (bulk && !familiar && !isRisky && e.token_id !== null && azureTenantServiceHost(e.dest_host)) familiar = true;
    // Bulk data to a private address stays inside the organisation's network (a copy to an engineering file
    // share, a private endpoint of its own storage): staging, not exfiltration; what leaves later is judged then.
    const inside = bulk && isPrivateAddress(e.dest_ip ?? e.dest_host);
    if (inside) familiar = true;
    // Risky categories become familiar only through bulk uploads of the blueprint (above).
    if (!isRisky) {
      g ??= group(e.tenant_id, s.g, t);
      const sec = Math.floor(t / 1000);
      let teach = !suspect(s, sec);
      if (established(g, e.dest_host, e.agent_id, t, teach)) {
        familiar = true;
        const d = s.sr > NEVER || s.tr !== undefined ? shipped(e, s, knownDest!, cat, sec) : undefined;
        if (d !== undefined) {
          if (d !== null) {
            flagged(g, dh || hashString(e.dest_host), ah || hashString(e.agent_id), t);
            return [d];
          }
          teach = false; // a shipment never teaches the destination's sizes
        }
        // Writes to a system the blueprint only reads (its largest request there under 16 KiB): none
        // raises that largest (the smaller ones of a burst would hide the rest); those 8× it count.
        const k = knownDest!;
        // Only inside the organisation's network: a SaaS API reads and writes on one host (Graph's mail is read and sent there).
        const writeShaped =
          k.b !== undefined && k.b <= READER_MAX_BUCKET && bytes >= o.writeMinBytes && bytes >= 2 * e.bytes_in && e.dest_agent_id === null &&
          !cat.modelProvider && !cat.cdn && !cat.storage && isPrivateAddress(e.dest_ip ?? e.dest_host) && !secretStoreHost(e.dest_host);
        if (writeShaped) {
          teach = false;
          if (bucketOf(bytes) >= k.b! + o.writeBuckets) {
            const wdh = dh || hashString(e.dest_host);
            const wah = ah || hashString(e.agent_id);
            noteBulk(g, wdh, wah, t); // its writers tell a release (see decide)
            const d = writesOf(e, s, k);
            if (d !== null) return confirmLater(d, e, s, wdh, wah, cat);
          }
        }
      }
      // Nor does a large request soon after a secrets call: the first, smaller ones of a shipment would raise the bar for the rest.
      if (bytes >= o.shipMinBytes && ((sec >= s.sr && (sec - s.sr) * 1000 <= o.shipWindowMs) || (s.tr !== undefined && sec >= s.tr && (sec - s.tr) * 1000 <= o.shipWindowMs))) teach = false;
      const k = knownDest;
      if (teach && k !== undefined) {
        const b = bucketOf(bytes);
        if (k.b === undefined || b > k.b) k.b = b;
      }
    }
    const channel = requestChannelOf(e);
    if (channel !== RequestChannel.None) {
      const d = checkDns(e, s, wi, channel);
      if (d !== null) return [d];
    }

    let out: Detection[] = NO_DETECTIONS;
    if (bytes >= (isRisky ? o.minBytesRisky : o.minBytes)) {
      const d = checkTransfer(e, s, isRisky, familiar, isGovernment(e, cat));
      if (d !== undefined) {
        // An anomaly never enters the baselines.
        if (d === null) return NO_DETECTIONS;
        flagged(g ?? group(e.tenant_id, s.g, t), dh || hashString(e.dest_host), ah || hashString(e.agent_id), t);
        return bulk ? confirmLater(d, e, s, dh, ah, cat) : [d];
      }
    }
    if (bytes <= 0) return out;

    if (familiar && isRisky) {
      const fkib = Math.floor(bytes / KIB);
      if (wi === s.w) s.k0 += fkib;
      else if (wi === s.w - 1) s.k1 += fkib;
      if (wi >= s.w - 1 && (s.k0 + s.k1) * KIB >= o.familiarDropBytes) {
        const d = checkFamiliarDrop(e, s);
        if (d !== undefined) {
          s.xw = wi; // an anomalous window: kept out of the baselines
          if (d === null) return NO_DETECTIONS;
          flagged(g!, dh, ah, t);
          return confirmLater(d, e, s, dh, ah, cat);
        }
      }
    }

    // Prompts to a model provider the blueprint does not work with, that is no major provider's own API: a relay.
    // So are tool calls carrying data to an MCP server the blueprint does not work with (4 times what comes back: a
    // poisoned tool's description asking for the mailbox as a hidden argument).
    const mcp = !cat.modelProvider && MCP_CATEGORIES.has(cat.key);
    if ((cat.modelProvider || mcp) && !familiar && bytes >= o.relayPromptBytes && bytes >= (mcp ? 4 : 1) * e.bytes_in && (mcp || !isMajorModelHost(e.dest_host))) {
      const rg = g ?? group(e.tenant_id, s.g, t);
      const rdh = dh || hashString(e.dest_host);
      const rah = ah || hashString(e.agent_id);
      noteBulk(rg, rdh, rah, t); // its senders tell a blueprint's provider switch (see decide)
      const d = relayPromptsOf(e, s);
      if (d !== null) return confirmLater(d, e, s, rdh, rah, cat);
    }
    // Tracking pixels carrying kilobytes each (not to analytics or advertising hosts, built to take them).
    if (e.file_type !== null && bytes >= o.pixelBytes && e.bytes_in <= PIXEL_MAX_IN && isImageType(e.file_type) && !isAnalyticsCategory(cat.key)) {
      const pg = g ?? group(e.tenant_id, s.g, t);
      const pdh = dh || hashString(e.dest_host);
      const pah = ah || hashString(e.agent_id);
      noteBulk(pg, pdh, pah, t);
      const d = pixelBeaconsOf(e, s, familiar);
      if (d !== null) return confirmLater(d, e, s, pdh, pah, cat);
    }
    // Image fetches sending more than they get back, to a host the blueprint does not work with: data in image URLs.
    if (!familiar && bytes >= o.imageBeaconBytes && bytes >= 2 * e.bytes_in && e.file_type !== null && isImageType(e.file_type)) {
      const bg = g ?? group(e.tenant_id, s.g, t);
      const bdh = dh || hashString(e.dest_host);
      const bah = ah || hashString(e.agent_id);
      noteBulk(bg, bdh, bah, t);
      const d = imageBeaconsOf(e, s);
      if (d !== null) return confirmLater(d, e, s, bdh, bah, cat);
    }

    // Nor to a model endpoint or an Azure AI, Machine Learning or health data service that takes the agent's own
    // token: a resource of its tenant (a fine-tuning upload to its Azure OpenAI resource, invoices sent to its
    // Document Intelligence resource, imaging studies migrated into its DICOM service: an Entra token is taken only
    // by a resource that granted the agent a role), not a shared provider fed under someone else's key.
    if (familiar && !inside && !isRisky && !cat.cdn && !cat.storage && !((cat.modelProvider || azureTenantServiceHost(e.dest_host)) && e.token_id !== null)) {
      const skib = Math.floor(bytes / KIB);
      // A transfer within 4× the largest its blueprint sent to that destination while it was new to it, an hour or more
      // ago (an hourly partner file over SFTP since the stream began: the first ones counted as new-destination bytes,
      // so no surge baseline saw them): the agent's own volume, learnt at once. Not where the bulk began within the
      // hour: a thief's first chunks are no precedent for the rest.
      if (bulk && skib > s.sm && g!.d.size !== 0) {
        const d = g!.d.get(dh);
        if (d !== undefined && skib <= PRECEDENT_FACTOR * (d.m ?? 0) && t - d.f * 1000 >= o.familiarAfterMs) s.sm = skib;
      }
      if (wi === s.w) s.s0 += skib;
      else if (wi === s.w - 1) s.s1 += skib;
      if (wi >= s.w - 1 && (s.s0 + s.s1) * KIB >= (modelUpload(e, cat) ? o.familiarSurgeBytesModel : o.familiarSurgeBytes)) {
        const d = checkFamiliarSurge(e, s);
        if (d !== undefined) {
          s.xw = wi; // an anomalous window: kept out of the baselines
          if (d === null) return NO_DETECTIONS;
          // The same agent's surge to the same destination 90 minutes to 8 days after it was flagged for one
          // (yesterday's data-subject export to the privacy portal): a job the first finding put before an analyst.
          const sg = g ?? group(e.tenant_id, s.g, t);
          const sdh = dh || hashString(e.dest_host);
          const sah = ah || hashString(e.agent_id);
          if (recurring(sg, sdh, sah, t)) return NO_DETECTIONS;
          flagged(sg, sdh, sah, t);
          return confirmLater(d, e, s, sdh, sah, cat);
        }
      }
    }

    // Window sums in KiB of bytes to destinations not familiar to the group (all,
    // and risky categories): regular bulk uploads to familiar destinations, even a
    // file-sharing service the blueprint uses, do not count. Late events land in
    // the previous window, older ones are dropped.
    // Nor do uploads to a government host (a regulator's filing portal, a tax authority's API): where
    // a quarterly return goes, and no drop an attacker can register.
    const kib = familiar || bytes < KIB || isGovernment(e, cat) ? 0 : Math.floor(bytes / KIB);
    // An agent endpoint outside the tenant (no dest_agent_id: an A2A call to a third party's agent)
    // new to the blueprint weighs as a risky destination in the sums: context handed to an agent
    // nobody vetted. It still becomes familiar the usual way (2 agents calling it for an hour).
    const rkib = isRisky || (cat.key === 'agent' && e.dest_agent_id === null) ? kib : 0;
    if (wi === s.w) {
      s.c0 += kib;
      s.r0 += rkib;
    } else if (wi === s.w - 1) {
      s.c1 += kib;
      s.r1 += rkib;
    }
    if (wi >= s.w - 1 && ((s.c0 + s.c1) * KIB >= windowGate || (s.r0 + s.r1) * KIB >= o.minWindowBytesRisky)) {
      const d = checkWindow(e, s, wi);
      if (d !== undefined) {
        if (d !== null) out = holdSum(d, e, s, g, bulk, dh, ah, cat);
        return out; // over the window threshold: keep this transfer out of the baselines
      }
    }
    if (kib > 0) {
      const hi = Math.floor(t / HALF_HOUR_MS);
      if (hi > s.hw) rollHalfHour(e.tenant_id, s, hi, t);
      if (hi === s.hw) {
        s.h0 += kib;
        s.q0 += rkib;
      } else if (hi === s.hw - 1) {
        s.h1 += kib;
        s.q1 += rkib;
      }
      if ((s.h0 + s.h1) * KIB >= o.minSlowBytes || (s.q0 + s.q1) * KIB >= o.minSlowBytesRisky) {
        const d = checkSlow(e, s);
        if (d !== undefined) {
          if (d !== null) out = holdSum(d, e, s, g, bulk, dh, ah, cat);
          s.xw = wi; // an anomalous window: kept out of the baselines
          return out;
        }
      }
    }

    // The size is learnt only while the destination is new to the blueprint: what no surge baseline saw (see PRECEDENT_FACTOR).
    if (bulk && !suspect(s, Math.floor(t / 1000))) learnDestination(g!, dh, ah, t, familiar ? 0 : Math.floor(bytes / KIB));

    // Baselines: the agent's high-water mark and the peer group's per-agent-window maxima.
    const b = bucketOf(bytes);
    if (s.n < 1e9) s.n++;
    if (b > s.top) s.top = b;
    s.lg += ((b << 4) - s.lg) >> (s.n < 32 ? 2 : 5);
    if (wi === s.w && b > s.mx) {
      const grp = g ?? group(e.tenant_id, s.g, t);
      const gh = grp.h;
      if (s.mx >= 0) {
        if (gh[s.mx]! > 0) gh[s.mx]!--;
      } else grp.nw++;
      if (gh[b]! >= 60_000) for (let i = 0; i < BUCKETS; i++) gh[i] = (gh[i]! + 1) >> 1;
      gh[b]!++;
      s.mx = b;
    }
    return out;
  }

  return {
    types: ['network', 'token'] as const,
    meta: exfiltrationMeta,
    observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
      if (e.type === 'token') {
        onToken(e, ctx);
        return NO_DETECTIONS;
      }
      if (e.type !== 'network') return NO_DETECTIONS;
      const out = onNetwork(e, ctx);
      if (e.action !== 'allowed' || e.dest_agent_id !== null) return out;
      const tunnel = checkNameTunnel(e);
      return tunnel === null ? out : out.length === 0 ? [tunnel] : [...out, tunnel];
    },
    advance: (watermark: number): Detection[] => pending.takeDue(watermark, decide),
    // End of a replay: what waits for the blueprint to follow is decided as if the stream had gone quiet.
    settle: (): Detection[] => pending.takeDue(Infinity, decide),
    evict(before: number): void {
      agents.evict(before);
      groups.evict(before);
      pending.evict(before);
      tunnels.evict(before);
      relays.evict(before);
      beacons.evict(before);
      pixels.evict(before);
      writes.evict(before);
    },
    size(): number {
      return agents.size + groups.size + pending.size + tunnels.size + relays.size + beacons.size + pixels.size + writes.size;
    },
    snapshot(): unknown {
      const rows: [string, string, GroupRow][] = [];
      for (const [t, id, g] of groups.entries()) rows.push([t, id, { ...g, d: [...g.d], k: [...g.k], x: [...g.x], ad: g.ad ? [...g.ad] : [] }]);
      return clone({ version: 1, agents: agents.rows(), groups: rows, pending: pending.snapshot(), tunnels: tunnels.snapshot(), relays: relays.snapshot(), beacons: beacons.snapshot(), pixels: pixels.snapshot(), writes: writes.snapshot() });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as { version: number; agents: [string, string, AgentEx][]; groups: [string, string, GroupRow][]; pending?: PendingSum[]; tunnels?: ReturnType<NameTunnelWatch['snapshot']>; relays?: [string, string, HostBurst][]; beacons?: [string, string, HostBurst][]; pixels?: [string, string, HostBurst][]; writes?: [string, string, HostBurst][] };
      if (s?.version !== 1) throw new Error('exfiltration: unsupported snapshot');
      // Rows of older snapshots lack newer fields: laid over a fresh state, they get their defaults.
      agents.restore(
        s.agents.map(([t, id, v]) => [t, id, Object.assign(newAgentState(v.g, 0, o.windowMs), v)]),
        false,
      );
      groups.restore(s.groups.map(([t, id, g]) => [t, id, { ...g, hm: g.hm ?? 0, qm: g.qm ?? 0, km: g.km ?? 0, sm: g.sm ?? 0, d: new Map(g.d), k: new Map(g.k ?? []), x: new Map(g.x ?? []), ad: new Map(g.ad ?? []) }]));
      pending.restore(s.pending);
      tunnels.restore(s.tunnels);
      relays.restore(s.relays ?? []);
      beacons.restore(s.beacons ?? []);
      pixels.restore(s.pixels ?? []);
      writes.restore(s.writes ?? []);
    },
  };
}

/** A new agent's state (every field, in one order: one hidden class for all agents). */
function newAgentState(g: string, t: number, windowMs: number): AgentEx {
  return {
    at: 0,
    am: 0,
    e: 0,
    g,
    n: 0,
    top: -1,
    lg: 0,
    f: Math.floor(t / 1000),
    w: Math.floor(t / windowMs),
    c0: 0,
    c1: 0,
    r0: 0,
    r1: 0,
    mx: -1,
    pp: 0,
    pr: 0,
    pw: NEVER,
    wm: 0,
    rm: 0,
    nw: 0,
    xw: NEVER,
    hw: Math.floor(t / HALF_HOUR_MS),
    h0: 0,
    h1: 0,
    q0: 0,
    q1: 0,
    hm: 0,
    qm: 0,
    ph: 0,
    pq: 0,
    ft: NEVER,
    fc: NEVER,
    fv: 0,
    sv: 0,
    fs: NEVER,
    d0: 0,
    d1: 0,
    fd: NEVER,
    k0: 0,
    k1: 0,
    pk: 0,
    km: 0,
    s0: 0,
    s1: 0,
    ps: 0,
    sm: 0,
    st: 0,
    sp: 0,
    sr: NEVER,
    sk: 0,
  };
}

function fmtBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}
