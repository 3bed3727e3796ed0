// Detector 37 — cloud-credential-pivot: an agent starts enumerating another
// cloud's identity and resources, a cloud its blueprint never uses (T1078.004
// Valid Accounts: Cloud Accounts; T1580 Cloud Infrastructure Discovery).
//
// Agents read documents, mailboxes and repositories full of other clouds'
// keys: an AWS access key in a spreadsheet, a GCP service-account JSON in a
// repository, an Alibaba RAM key in a config file. An intruder who finds one
// uses it from where he is, the agent's runtime: `sts GetCallerIdentity`,
// then IAM and the secrets manager, then the compute and storage inventory,
// then a bulk pull (Pacu, ScoutSuite, the LLMjacking crews' first minutes).
// None of it carries an Entra token, and no Entra log sees it; the gateway
// sees an agent whose blueprint never spoke to that cloud calling its
// control plane: several of its services, one of them identity or secrets,
// within minutes.
//
// Rule: calls of an agent to the control-plane services of one cloud (AWS,
// Google Cloud, Alibaba Cloud, Oracle Cloud; see CLOUD_SERVICES) that its
// blueprint does not call (2 of its agents, or its agents for an hour):
// 10 calls reaching 3 distinct services, one of them an identity or secrets
// service, within 10 minutes → medium for an agent an hour old or more (an
// established workload turning to a cloud it never used), low for a younger
// one (a new posture or migration agent's first run looks the same). Once
// per agent an hour; a reported agent teaches its blueprint nothing.
//
// Data-plane hosts on the same domains (an API Gateway endpoint, a public
// dataset's bucket alone, Bedrock or Vertex AI) are another matter: only
// the named control-plane services, and buckets beside them, count.
//
// State: only for agents that called a control-plane service of a cloud
// their blueprint does not call (the window's times, the services seen), and
// per blueprint the clouds it calls.

import type { AgentEvent, NetworkEvent } from '../contract/events.js';
import type { Detection, DetectorMeta } from './types.js';
import { peerGroupId, peerGroupName, type Detector, type DetectorContext } from './detector.js';
import { NO_DETECTIONS, TenantMap, hashString, msOfSec, sec, type Timed } from './agent-directory.js';
import { memoByHost } from './host-memo.js';
import { agentAndGroupState, noteHostUse, unteachHostUse, type GroupHosts } from './keyed-state.js';

export interface CloudCredentialPivotOptions {
  /** Calls, distinct services (one of them identity or secrets) within windowMs that make a finding. */
  calls?: number;
  services?: number;
  windowMs?: number;
  /** A blueprint calls a cloud once this many of its agents did, or its agents did for this long. */
  familiarAgents?: number;
  familiarAfterMs?: number;
  /** An agent this old (ms since first seen) is established: medium; younger: low. */
  establishedMs?: number;
  /** One finding per agent per this, ms. */
  refireMs?: number;
  maxAgents?: number;
}

const DEFAULTS: Required<CloudCredentialPivotOptions> = {
  calls: 10,
  services: 3,
  windowMs: 10 * 60_000,
  familiarAgents: 2,
  familiarAfterMs: 3_600_000,
  establishedMs: 3_600_000,
  refireMs: 3_600_000,
  maxAgents: 1_000_000,
};

interface CloudServices {
  name: string;
  /** Control-plane services by the host's service label, the identity and secrets ones first (`identity` of them). */
  services: string[];
  identity: number;
}

/** Per cloud: its control-plane services (at most 31), identity and secrets ones first. */
const CLOUD_SERVICES: CloudServices[] = [
  {
    name: 'AWS',
    services: ['iam', 'sts', 'organizations', 'sso', 'identitystore', 'secretsmanager', 'ssm', 'kms', 'ec2', 's3', 'lambda', 'rds', 'dynamodb', 'eks', 'ecs', 'api.ecr', 'cloudtrail', 'logs', 'cloudformation', 'route53', 'config', 'guardduty', 'securityhub', 'access-analyzer', 'backup', 'glue', 'athena', 'redshift', 'elasticfilesystem'],
    identity: 8,
  },
  {
    name: 'Google Cloud',
    services: ['iam', 'iamcredentials', 'sts', 'cloudresourcemanager', 'secretmanager', 'cloudkms', 'admin', 'compute', 'storage', 'container', 'run', 'cloudfunctions', 'bigquery', 'logging', 'serviceusage', 'cloudasset', 'sqladmin'],
    identity: 7,
  },
  {
    name: 'Alibaba Cloud',
    services: ['ram', 'sts', 'kms', 'resourcemanager', 'ims', 'ecs', 'oss', 'rds', 'vpc', 'actiontrail', 'cs', 'fc'],
    identity: 5,
  },
  {
    name: 'Oracle Cloud',
    services: ['identity', 'vaults', 'secrets', 'kms', 'iaas', 'objectstorage', 'audit', 'database', 'containerengine'],
    identity: 4,
  },
];

/** An S3 bucket or endpoint label: s3, s3-eu-west-1, s3-accesspoint, s3-fips... */
const S3_LABEL = /^s3(?:-[a-z0-9-]+)?$/;

/**
 * The cloud (index into CLOUD_SERVICES) and control-plane service (index into
 * its services) a host belongs to, as `cloud * 32 + service + 1`; 0 for any
 * other host. `iam.amazonaws.com`, `secretsmanager.sa-east-1.amazonaws.com`,
 * `bucket.s3.eu-west-1.amazonaws.com`, `iam.googleapis.com`,
 * `ram.aliyuncs.com`, `bucket.oss-cn-hangzhou.aliyuncs.com`,
 * `identity.eu-frankfurt-1.oraclecloud.com`.
 */
export function cloudControlPlane(host: string): number {
  let h = host.toLowerCase();
  if (h.endsWith('.')) h = h.slice(0, -1);
  const labels = h.split('.');
  const n = labels.length;
  if (n < 3) return 0;
  const code = (cloud: number, service: string | undefined): number => {
    if (service === undefined) return 0;
    const i = CLOUD_SERVICES[cloud]!.services.indexOf(service);
    return i < 0 ? 0 : cloud * 32 + i + 1;
  };
  const tail = labels[n - 2] + '.' + labels[n - 1];
  if (tail === 'amazonaws.com' || (n >= 4 && labels[n - 3] === 'amazonaws' && tail === 'com.cn')) {
    // Buckets and S3 endpoints: any label that is S3's.
    for (let i = 0; i < n - 2; i++) if (S3_LABEL.test(labels[i]!)) return code(0, 's3');
    return code(0, labels[0] === 'api' && labels[1] === 'ecr' ? 'api.ecr' : labels[0]);
  }
  if (tail === 'googleapis.com') return n === 3 ? code(1, labels[0]) : 0;
  if (tail === 'aliyuncs.com') {
    for (let i = 0; i < n - 2; i++) if (labels[i]!.startsWith('oss-')) return code(2, 'oss');
    return code(2, labels[0]);
  }
  if (tail === 'oraclecloud.com') {
    for (let i = 0; i < n - 2; i++) {
      const k = code(3, labels[i]);
      if (k !== 0) return k;
    }
  }
  return 0;
}

const controlPlane = memoByHost(cloudControlPlane);

/** Calls kept per agent (enough for the bars). */
const MAX_CALLS = 32;

/** Per agent that called a control-plane service of a cloud its blueprint does not call: the cloud, flat [service, time (s)] of the window's calls, last finding (s), event ids. */
interface AgentCalls extends Timed {
  c: number;
  f: number[];
  fired: number;
  ids: string[];
}

/** Hashes of the clouds' names, the key of a blueprint's use of one (see noteHostUse). */
const CLOUD_KEYS = CLOUD_SERVICES.map((c) => hashString(`cloud:${c.name}`));

export const cloudCredentialPivotMeta: DetectorMeta = {
  id: 'cloud-credential-pivot',
  title: "Another cloud's control plane enumerated by an agent",
  severity: 'medium',
  mitre: { id: 'T1078.004', name: 'Valid Accounts: Cloud Accounts' },
  description:
    "An agent makes 10 calls within 10 minutes to 3 or more control-plane services of a cloud its blueprint does not call (AWS, Google Cloud, Alibaba Cloud, Oracle Cloud; 2 of its agents, or its agents for an hour), one of them identity or secrets (IAM, STS, the secrets manager, KMS): another cloud's key found in the data the agent reads, used from its runtime to enumerate that cloud and pull from it. " +
    'Medium for an agent an hour old or more, low for a younger one (a new posture or migration agent looks the same on its first run). Once per agent an hour.',
};

export function createCloudCredentialPivotDetector(options: CloudCredentialPivotOptions = {}): Detector {
  const o: Required<CloudCredentialPivotOptions> = { ...DEFAULTS, ...options };
  const agents = new TenantMap<AgentCalls>(o.maxAgents);
  const groups = new TenantMap<GroupHosts>(o.maxAgents);
  const windowS = o.windowMs / 1000;

  function onCall(e: NetworkEvent, code: number, ctx: DetectorContext): Detection[] {
    const now = sec(e.time);
    const cloud = (code - 1) >> 5;
    const service = (code - 1) & 31;
    const key = CLOUD_KEYS[cloud]!;
    const ah = hashString(e.agent_id) | 1;
    const gid = peerGroupId(e.blueprint_id, e.agent_id);
    let a = agents.get(e.tenant_id, e.agent_id);
    const reported = a !== undefined && a.fired !== 0 && now - a.fired < o.refireMs / 1000;
    // An agent reported for it teaches its blueprint nothing.
    if (!reported && noteHostUse(groups, e.tenant_id, gid, key, ah, now, e.time, o.familiarAgents, o.familiarAfterMs / 1000)) return NO_DETECTIONS;
    if (a === undefined) {
      a = { at: e.time, c: cloud, f: [], fired: 0, ids: [] };
      agents.set(e.tenant_id, e.agent_id, a);
    } else if (e.time > a.at) a.at = e.time;
    if (a.c !== cloud) {
      a.c = cloud;
      a.f = [];
      a.ids = [];
    }
    const f = a.f;
    let old = 0;
    while (old < f.length && f[old + 1]! <= now - windowS) old += 2;
    if (old > 0) f.splice(0, old);
    if (f.length === 0) a.ids = [];
    if (f.length >= 2 * MAX_CALLS) f.splice(0, 2);
    f.push(service, now);
    if (a.ids.length < 4) a.ids.push(e.event_id);
    else a.ids[3] = e.event_id;
    const calls = f.length / 2;
    if (reported || calls < o.calls) return NO_DETECTIONS;
    const spec = CLOUD_SERVICES[cloud]!;
    const seen: number[] = [];
    let identity = false;
    for (let i = 0; i < f.length; i += 2) {
      const x = f[i]!;
      if (!seen.includes(x)) seen.push(x);
      if (x < spec.identity) identity = true;
    }
    if (seen.length < o.services || !identity) return NO_DETECTIONS;
    a.fired = now;
    unteachHostUse(groups, e.tenant_id, gid, key, ah, now);
    const firstSeen = ctx.agent(e.tenant_id, e.agent_id)?.first_seen ?? e.time;
    const established = e.time - firstSeen >= o.establishedMs;
    const names = seen.map((x) => spec.services[x]!);
    return [
      {
        detector: cloudCredentialPivotMeta.id,
        severity: established ? 'medium' : 'low',
        tenant_id: e.tenant_id,
        agent_id: e.agent_id,
        time: e.time,
        summary:
          `Agent ${e.agent_id} called ${names.length} ${spec.name} control-plane services (${names.join(', ')}) ${calls} times within ${Math.max(1, Math.round((now - f[1]!) / 60))} min, ` +
          `where its blueprint does not use ${spec.name}: another cloud's key used from the agent's runtime to enumerate that cloud` +
          (established ? '' : ' (the agent is under an hour old: low)'),
        evidence: {
          observed: { cloud: spec.name, services: names, calls, since: msOfSec(f[1]!), host: e.dest_host, agent_age_ms: e.time - firstSeen },
          baseline: { blueprint_uses_cloud: false },
          threshold: `${o.calls} calls to ${o.services} control-plane services of one cloud, one identity or secrets, within ${windowS / 60} min, where the blueprint does not use it (${o.familiarAgents} of its agents, or for ${o.familiarAfterMs / 60_000} min); medium from an agent age of ${o.establishedMs / 60_000} min`,
          peer_group: peerGroupName(e.blueprint_id) ?? `agent:${e.agent_id}`,
        },
        event_ids: a.ids.slice(),
      },
    ];
  }

  return {
    meta: cloudCredentialPivotMeta,
    types: ['network'] as const,
    observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
      if (e.type !== 'network' || e.action !== 'allowed' || e.dest_agent_id !== null) return NO_DETECTIONS;
      const code = controlPlane(e.dest_host);
      return code === 0 ? NO_DETECTIONS : onCall(e, code, ctx);
    },
    ...agentAndGroupState('cloud-credential-pivot', agents, groups),
  };
}
