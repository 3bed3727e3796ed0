// Detector 33 — cluster-admin-access: an agent drives a managed Kubernetes
// cluster's API server with a local credential its blueprint never used
// (T1609 Container Administration Command; T1552.007 Unsecured Credentials:
// Container API).
//
// A devops agent with Contributor on a resource group can ask Azure Resource
// Manager for a cluster's admin kubeconfig (listClusterAdminCredential): a
// client certificate that is cluster-admin, outside Entra ID, and valid for
// years. From then on no token is issued and no new audience or scope shows
// up: the agent talks to `<cluster>.hcp.<region>.azmk8s.io` with the
// certificate, reading every namespace's secrets and starting privileged
// pods. An agent that works with a cluster through Entra ID presents an
// Entra token there (AKS-managed Entra integration, kubelogin); local
// accounts are the break-glass path, and a stolen kubeconfig's.
//
// A call: a network event of the agent to a managed Kubernetes API server
// (AKS `*.azmk8s.io`, EKS `*.eks.amazonaws.com`, the Kubernetes endpoints of
// other clouds' managed services) without a token. Rule: 10 such calls within
// 10 minutes to one API server, by an agent whose blueprint does not call it
// so (2 of its agents, or its agents for an hour) → medium, once per agent
// an hour.
//
// State: only for agents that called an API server without a token (their
// latest call times), and per blueprint the servers it calls so.

import type { AgentEvent, NetworkEvent } from '../contract/events.js';
import type { Detection, DetectorMeta } from './types.js';
import { peerGroupId, peerGroupName, type Detector } from './detector.js';
import { NO_DETECTIONS, TenantMap, hashString, msOfSec, sec, type Timed } from './agent-directory.js';
import { memoByHost } from './host-memo.js';
import { agentAndGroupState, noteHostUse, unteachHostUse, type GroupHosts } from './keyed-state.js';

export interface ClusterAdminAccessOptions {
  /** Calls without a token to one API server within windowMs that make a finding. */
  calls?: number;
  windowMs?: number;
  /** A blueprint calls a server so once this many of its agents did, or its agents did for this long. */
  familiarAgents?: number;
  familiarAfterMs?: number;
  /** One finding per agent per this, ms. */
  refireMs?: number;
  maxAgents?: number;
}

const DEFAULTS: Required<ClusterAdminAccessOptions> = {
  calls: 10,
  windowMs: 10 * 60_000,
  familiarAgents: 2,
  familiarAfterMs: 3_600_000,
  refireMs: 3_600_000,
  maxAgents: 1_000_000,
};

/** Host suffixes of managed Kubernetes API servers: AKS (public and private clusters, every cloud), EKS, OKE. */
const API_SERVER_SUFFIXES = ['.azmk8s.io', '.azmk8s.us', '.azmk8s.cn', '.eks.amazonaws.com', '.eks.amazonaws.com.cn', '.clusters.oci.oraclecloud.com'];

/** True when `host` is a managed Kubernetes cluster's API server (see API_SERVER_SUFFIXES). */
export function isKubernetesApiServer(host: string): boolean {
  let h = host.toLowerCase();
  if (h.endsWith('.')) h = h.slice(0, -1);
  for (const s of API_SERVER_SUFFIXES) if (h.length > s.length && h.endsWith(s)) return true;
  return false;
}

const apiServer = memoByHost(isKubernetesApiServer);

/** Per agent that called an API server without a token: the server (hash) and its call times within the window (s), last finding (s), first and latest event ids. */
interface AgentCalls extends Timed {
  h: number;
  t: number[];
  fired: number;
  ids: string[];
}


export const clusterAdminAccessMeta: DetectorMeta = {
  id: 'cluster-admin-access',
  title: 'Kubernetes API driven with a local credential',
  severity: 'medium',
  mitre: { id: 'T1609', name: 'Container Administration Command' },
  description:
    "An agent makes 10 calls within 10 minutes to a managed Kubernetes cluster's API server (AKS *.azmk8s.io, EKS, OKE) without an Entra token, where its blueprint does not call it so (2 of its agents, or its agents for an hour): the cluster's admin kubeconfig (a client certificate outside Entra ID) fetched through Azure Resource Manager and used to read every namespace's secrets or start privileged pods. " +
    'An agent working with a cluster through Entra ID presents a token there. Medium, once per agent an hour.',
};

export function createClusterAdminAccessDetector(options: ClusterAdminAccessOptions = {}): Detector {
  const o: Required<ClusterAdminAccessOptions> = { ...DEFAULTS, ...options };
  const agents = new TenantMap<AgentCalls>(o.maxAgents);
  const groups = new TenantMap<GroupHosts>(o.maxAgents);
  const windowS = o.windowMs / 1000;

  function onCall(e: NetworkEvent): Detection[] {
    const now = sec(e.time);
    const h = hashString(e.dest_host.toLowerCase());
    const ah = hashString(e.agent_id) | 1;
    let a = agents.get(e.tenant_id, e.agent_id);
    if (a === undefined) {
      a = { at: e.time, h, t: [], fired: 0, ids: [] };
      agents.set(e.tenant_id, e.agent_id, a);
    } else if (e.time > a.at) a.at = e.time;
    if (a.h !== h) {
      a.h = h;
      a.t = [];
      a.ids = [];
    }
    // An agent reported for this server teaches its blueprint nothing about it.
    const reported = a.fired !== 0 && now - a.fired < o.refireMs / 1000;
    const gid = peerGroupId(e.blueprint_id, e.agent_id);
    if (!reported && noteHostUse(groups, e.tenant_id, gid, h, ah, now, e.time, o.familiarAgents, o.familiarAfterMs / 1000)) return NO_DETECTIONS;
    const t = a.t;
    let old = 0;
    while (old < t.length && t[old]! <= now - windowS) old++;
    if (old > 0) t.splice(0, old);
    if (t.length < o.calls) t.push(now);
    if (a.ids.length < 2) a.ids.push(e.event_id);
    else a.ids[1] = e.event_id;
    if (t.length < o.calls || reported) return NO_DETECTIONS;
    a.fired = now;
    unteachHostUse(groups, e.tenant_id, gid, h, ah, now);
    return [
      {
        detector: clusterAdminAccessMeta.id,
        severity: 'medium',
        tenant_id: e.tenant_id,
        agent_id: e.agent_id,
        time: e.time,
        summary:
          `Agent ${e.agent_id} made ${t.length} calls without an Entra token to the Kubernetes API server ${e.dest_host} within ${Math.max(1, Math.round((now - t[0]!) / 60))} min, ` +
          "where its blueprint's agents do not call it so: a local cluster credential (the admin kubeconfig) at work",
        evidence: {
          observed: { calls: t.length, api_server: e.dest_host, since: msOfSec(t[0]!), token_id: null },
          baseline: { blueprint_calls_server_without_token: false },
          threshold: `${o.calls} calls without a token within ${windowS / 60} min to an API server the blueprint does not call so (${o.familiarAgents} of its agents, or for ${o.familiarAfterMs / 60_000} min)`,
          peer_group: peerGroupName(e.blueprint_id) ?? `agent:${e.agent_id}`,
        },
        event_ids: a.ids.slice(),
      },
    ];
  }

  return {
    meta: clusterAdminAccessMeta,
    types: ['network'] as const,
    observe(e: AgentEvent): Detection[] {
      if (e.type !== 'network' || e.token_id !== null || e.action !== 'allowed' || !apiServer(e.dest_host)) return NO_DETECTIONS;
      return onCall(e);
    },
    ...agentAndGroupState('cluster-admin-access', agents, groups),
  };
}
