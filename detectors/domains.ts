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
