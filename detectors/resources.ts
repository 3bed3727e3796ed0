// Resources (token audiences) as sources write them. One audience has several
// spellings: its URI in any case, with or without a trailing slash, its
// application id (a GUID), or `api://` and the application id. Detectors that
// learn which resources an agent and its blueprint use compare them through
// `resourceHash`, so a canary writing Graph as its application id is not an
// agent reaching a new resource.

import { hashString } from './agent-directory.js';
import { memoByHost } from './host-memo.js';
import { ALLOWED_LATENESS_MS, type AgentInfo, type Grant } from './detector.js';

/** Application ids of Microsoft first-party resources, by the URI their tokens are usually requested for. */
const FIRST_PARTY: Record<string, string> = {
  '00000003-0000-0000-c000-000000000000': 'https://graph.microsoft.com',
  '00000002-0000-0000-c000-000000000000': 'https://graph.windows.net',
  '797f4846-ba00-4fd7-ba43-dac1f8f63013': 'https://management.azure.com',
  'cfa8b339-82a2-471a-a3c9-0fc0be7a4093': 'https://vault.azure.net',
  'e406a681-f3d4-42a8-90b6-c2b029497af1': 'https://storage.azure.com',
  '022907d3-0f1b-48f7-badc-1ba6abab6d66': 'https://database.windows.net',
  '00000002-0000-0ff1-ce00-000000000000': 'https://outlook.office365.com',
};

/** Other URIs of the same first-party resources. */
const SYNONYMS: Record<string, string> = {
  'https://management.core.windows.net': 'https://management.azure.com',
  'https://outlook.office.com': 'https://outlook.office365.com',
};

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The comparison form of a resource: lower case, no trailing slash, `api://<guid>` as the guid, first-party application ids as their URI. */
export function canonicalResource(resource: string): string {
  let r = resource.trim().toLowerCase();
  while (r.length > 1 && r.endsWith('/')) r = r.slice(0, -1);
  if (r.startsWith('api://') && GUID.test(r.slice(6))) r = r.slice(6);
  return FIRST_PARTY[r] ?? SYNONYMS[r] ?? r;
}

const hashes = new Map<string, number>();
const MAX_REMEMBERED = 65_536;

/** hashString of the canonical form, remembered per spelling (sources use few: a lookup instead of a hash per event). */
export function resourceHash(resource: string): number {
  let h = hashes.get(resource);
  if (h === undefined) {
    h = hashString(canonicalResource(resource));
    if (hashes.size < MAX_REMEMBERED) hashes.set(resource, h);
  }
  return h;
}

/**
 * Azure built-in data-plane roles, by the resource whose tokens they are used
 * with. Such a role is granted as an RBAC assignment (lifecycle
 * permission_granted names it: "Storage Blob Data Contributor"), never appears
 * among a token's scopes (a storage token's is user_impersonation), yet it is
 * what makes the resource the agent's to use.
 */
const ROLE_RESOURCES: [RegExp, string][] = [
  [/^storage (account|blob|queue|table|file)\b/, 'https://storage.azure.com'],
  [/^key vault\b/, 'https://vault.azure.net'],
  [/^(azure )?sql\b|^sql (db|server|managed instance)\b/, 'https://database.windows.net'],
  [/^azure service bus\b/, 'https://servicebus.azure.net'],
  [/^azure event hubs\b/, 'https://eventhubs.azure.net'],
  [/^(cosmos db|documentdb)\b/, 'https://cosmos.azure.com'],
  [/^(cognitive services|azure ai)\b/, 'https://cognitiveservices.azure.com'],
  [/^search (index|service)\b/, 'https://search.azure.com'],
];

/** The resource (canonical URI) an Azure data-plane role granted by name is used with, or null for anything else. */
export function roleResource(permission: string): string | null {
  const p = permission.trim().toLowerCase();
  for (const [re, resource] of ROLE_RESOURCES) if (re.test(p)) return resource;
  return null;
}

/**
 * The agent's grant (lifecycle permission_granted) of an Azure data-plane
 * role for `resource` (canonical URI, see roleResource) within `windowMs`
 * before `t` (or up to the allowed lateness after it) that `vouched`
 * accepts; null when none.
 */
export function roleGrantOf(info: AgentInfo, resource: string, t: number, windowMs: number, vouched: (g: Grant) => boolean): Grant | null {
  for (const g of info.permissions_granted) {
    if (g.permission === null || t - g.time > windowMs || g.time > t + ALLOWED_LATENESS_MS) continue;
    if (roleResource(g.permission) === resource && vouched(g)) return g;
  }
  return null;
}

/**
 * The hosts that take tokens of each Microsoft first-party resource (public
 * and sovereign clouds), by the resource's canonical URI. A token of one of
 * them presented anywhere else was handed to a third party: the audience says
 * where a token is for, and no other service can use it but a thief.
 */
const AUDIENCE_HOSTS: [string, RegExp][] = [
  ['https://graph.microsoft.com', /^(graph\.microsoft\.com|graph\.microsoft\.us|dod-graph\.microsoft\.us|microsoftgraph\.chinacloudapi\.cn)$/],
  ['https://graph.windows.net', /^graph\.(windows\.net|microsoftazure\.de|chinacloudapi\.cn)$/],
  ['https://management.azure.com', /^([a-z0-9-]+\.)?management\.(azure\.com|core\.windows\.net|usgovcloudapi\.net|chinacloudapi\.cn)$/],
  ['https://vault.azure.net', /\.(vault\.azure\.net|vault\.usgovcloudapi\.net|vault\.azure\.cn|managedhsm\.azure\.net)$/],
  // Storage accounts (and their Azure DNS zone endpoints, account.z01.blob.storage.azure.net); OneLake takes storage tokens too.
  ['https://storage.azure.com', /\.(blob|dfs|file|queue|table)\.(core\.(windows\.net|usgovcloudapi\.net|chinacloudapi\.cn)|storage\.azure\.net)$|^onelake\.(dfs|blob)\.fabric\.microsoft\.com$/],
  // Azure SQL, and the SQL endpoints of Synapse and Fabric warehouses, which take the same tokens.
  ['https://database.windows.net', /\.(database\.windows\.net|database\.usgovcloudapi\.net|database\.chinacloudapi\.cn|sql\.azuresynapse\.(net|usgovcloudapi\.net|azure\.cn)|(datawarehouse|database)\.fabric\.microsoft\.com)$/],
  ['https://outlook.office365.com', /^(outlook\.office365\.com|outlook\.office\.com|substrate\.office\.com|[a-z0-9-]+\.outlook\.com)$/],
];

/** Index into AUDIENCE_HOSTS + 1 of a resource's canonical URI (0: not one whose hosts are known), remembered. */
const audiences = new Map<string, number>();

/** A small code for a first-party resource whose token-taking hosts are known (see audienceAccepts); 0 for any other. */
export function audienceCode(resource: string): number {
  let c = audiences.get(resource);
  if (c === undefined) {
    const r = canonicalResource(resource);
    c = AUDIENCE_HOSTS.findIndex(([uri]) => uri === r) + 1;
    if (audiences.size < MAX_REMEMBERED) audiences.set(resource, c);
  }
  return c;
}

/** The resource's canonical URI for an audience code (see audienceCode). */
export function audienceUri(code: number): string {
  return AUDIENCE_HOSTS[code - 1]?.[0] ?? '';
}

/**
 * Microsoft's own service domains: a token presented there stays with
 * Microsoft, whatever its audience (a Graph download redirected to
 * SharePoint carrying the header along), including the services whose hosts
 * are named after the customer's resource (a Synapse workspace, a container
 * registry, a Databricks workspace, an IoT hub). Not the domains customers
 * host their own apps under (azurewebsites.net, azure-api.net, cloudapp.net).
 */
const MICROSOFT_SERVICE = /(^|\.)(microsoft\.com|microsoft\.us|sharepoint\.com|sharepoint\.us|sharepoint-df\.com|office\.com|office\.net|office365\.com|office365\.us|microsoftonline\.com|microsoftonline\.us|microsoft365\.com|cloud\.microsoft|live\.com|outlook\.com|onmicrosoft\.com|windows\.net|azure\.com|azure\.net|azure\.us|chinacloudapi\.cn|usgovcloudapi\.net|azure\.cn|azuresynapse\.net|azurecr\.io|azuredatabricks\.net|azure-devices\.net|loganalytics\.io|powerbi\.com|dynamics\.com|visualstudio\.com)$/;

/** Per host, the audience codes it takes tokens of, as bits (code c at bit c - 1; all bits for a Microsoft service host), remembered. */
const acceptedBy = memoByHost((host: string): number => {
  let h = host.toLowerCase();
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (MICROSOFT_SERVICE.test(h)) return -1;
  let mask = 0;
  for (let i = 0; i < AUDIENCE_HOSTS.length; i++) if (AUDIENCE_HOSTS[i]![1].test(h)) mask |= 1 << i;
  return mask;
});

/** Per host, the audience codes of the first-party resources it is the host of (Graph for graph.microsoft.com), as bits (code c at bit c - 1; 0 for any other host), remembered. */
export const hostAudiences = memoByHost((host: string): number => {
  let h = host.toLowerCase();
  if (h.endsWith('.')) h = h.slice(0, -1);
  let mask = 0;
  for (let i = 0; i < AUDIENCE_HOSTS.length; i++) if (AUDIENCE_HOSTS[i]![1].test(h)) mask |= 1 << i;
  return mask;
});

/** The resources' canonical URIs of a set of audience codes (as hostAudiences gives them), comma-separated. */
export function audiencesNamed(mask: number): string {
  const names: string[] = [];
  for (let i = 0; i < AUDIENCE_HOSTS.length; i++) if ((mask >>> i) & 1) names.push(AUDIENCE_HOSTS[i]![0]);
  return names.join(', ');
}

/** Whether `host` takes tokens of the resource with audience code `code` (any host when the code is 0; any Microsoft service host). */
export function audienceAccepts(code: number, host: string): boolean {
  return code === 0 || ((acceptedBy(host) >>> (code - 1)) & 1) === 1;
}
