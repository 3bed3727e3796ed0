// Who owns a host name: its registrable domain (the part someone registers,
// by the Public Suffix List, private suffixes included: `x.github.io`,
// `acct.blob.core.windows.net`), and whether that domain is a namespace
// shared by many customers (a cloud's or a SaaS's), where anyone can create
// a name beside the tenant's.
//
// tldts carries the Public Suffix List and parses host names without I/O.

import { getDomain, parse } from 'tldts';

/**
 * Domains of clouds and SaaS platforms under which every customer names its
 * own hosts, but that the Public Suffix List does not list as suffixes: a
 * `c0ntoso.sharepoint.com` or `l1tware-aoai.openai.azure.com` is anyone's.
 */
export const SHARED_NAMESPACES: ReadonlySet<string> = new Set([
  // Microsoft
  'windows.net',
  'azure.net',
  'azure.com',
  'azure-api.net',
  'azurecr.io',
  'azureedge.net',
  'azurefd.net',
  'cloudapp.net',
  'microsoft.com',
  'sharepoint.com',
  'onmicrosoft.com',
  'dynamics.com',
  'powerapps.com',
  'office.com',
  // AWS, Google, Oracle, IBM, Alibaba
  'amazonaws.com',
  'cloudfront.net',
  'awsapps.com',
  'googleapis.com',
  'cloudfunctions.net',
  'run.app',
  'oraclecloud.com',
  'appdomain.cloud',
  'aliyuncs.com',
  // SaaS with a host per customer
  'salesforce.com',
  'force.com',
  'atlassian.net',
  'service-now.com',
  'zendesk.com',
  'okta.com',
  'oktapreview.com',
  'slack.com',
  'box.com',
  'workday.com',
  'myworkday.com',
  'snowflakecomputing.com',
  'databricks.com',
  'cloud.databricks.com',
  'auth0.com',
  'freshdesk.com',
  'hubspot.com',
  'webex.com',
  'zoom.us',
]);

/**
 * Whether a host is named in a namespace no one can register on the internet:
 * its suffix is on no public suffix list (`.local`, `.internal`, `.corp`,
 * `.lan`...) or is the special-use `home.arpa`. Only the owner of the
 * network's DNS creates such names.
 */
export function isInternalName(host: string): boolean {
  const p = parse(host, { allowPrivateDomains: true });
  if (p.isIp === true || p.publicSuffix === null) return false;
  return (p.isIcann !== true && p.isPrivate !== true) || p.publicSuffix === 'home.arpa';
}

/** The registrable domain of a host (lower case), or null for an address or a bare suffix. */
export function registrableDomain(host: string): string | null {
  return getDomain(host, { allowPrivateDomains: true });
}

/**
 * The registrable domain hosts `a` and `b` are both below, when it is not a
 * shared namespace (names only that domain's owner can create); else null.
 */
export function sameOwnedDomain(a: string, b: string): string | null {
  const domain = registrableDomain(b);
  if (domain === null || domain === b || SHARED_NAMESPACES.has(domain)) return null;
  return a.endsWith(`.${domain}`) ? domain : null;
}

/** Second-level labels under a country code that only its government registers (`ato.gov.au`, `sat.gob.mx`, `impots.gouv.fr`, `nta.go.jp`). */
const GOVERNMENT_SECOND_LEVEL: ReadonlySet<string> = new Set(['gov', 'gob', 'gouv', 'govt', 'go', 'gv', 'mil']);
/** Government domains outside such labels: Canada's, the Swiss federal administration's, Germany's federal one, the EU institutions'. */
const GOVERNMENT_DOMAINS: ReadonlySet<string> = new Set(['gc.ca', 'canada.ca', 'admin.ch', 'bund.de', 'europa.eu']);

/**
 * Whether a host belongs to a government: under `.gov` or `.mil`, under a
 * government second level of a country code (`.gov.uk`, `.gob.mx`,
 * `.gouv.fr`, `.go.jp`, `.govt.nz`), or under a government's own domain
 * (`admin.ch`, `europa.eu`). Those names are registered for agencies only:
 * a regulator's filing portal, a tax authority's API, an agency's file
 * exchange, never a drop an attacker can register.
 */
export function isGovernmentHost(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  const labels = h.split('.');
  const n = labels.length;
  if (n < 2) return false;
  const tld = labels[n - 1]!;
  if (tld === 'gov' || tld === 'mil') return true;
  if (tld.length === 2 && n >= 3 && GOVERNMENT_SECOND_LEVEL.has(labels[n - 2]!)) return true;
  return GOVERNMENT_DOMAINS.has(`${labels[n - 2]}.${tld}`);
}
