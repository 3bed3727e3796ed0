// Destination categories as network gateways write them. The contract names a
// few (`malicious`, `file_sharing`, `uncategorized`...), but gateways and
// their vendors spell verdict categories their own way: `command-and-control`,
// `C2`, `Botnets`, `Malware`. Detectors compare categories through these
// helpers, so a C2 beacon is not missed for being called something else.
// Vendors also join two verdicts in one category ("Spyware/Adware"): each
// part is looked up on its own.

/** Categories that mean the destination itself is hostile. */
const MALICIOUS = new Set([
  'malicious',
  'malicious_sites',
  'malicious_websites',
  'malicious_content',
  'malicious_domains',
  'malicious_urls',
  'malware',
  'command_and_control',
  'c2',
  'c_and_c',
  'botnet',
  'botnets',
  'botnet_callback',
  'spyware',
  'cryptomining',
  'cryptojacking',
  'compromised',
  'compromised_sites',
  'ransomware',
  'exploit_kits',
  'keyloggers',
  'keyloggers_and_monitoring',
]);

/**
 * Categories of phishing and fraud pages: as serious as the gateway's
 * `phishing` verdict (which some gateways only give as a category), not
 * a hostile server the agent talks to.
 */
const PHISHING = new Set(['phishing', 'phishing_and_fraud', 'phishing_and_other_frauds', 'phishing_sites', 'fraud']);

/**
 * Categories that carry no verdict on the destination but are where fresh
 * attacker infrastructure sits before any threat feed lists it: domains
 * registered days ago, dynamic DNS names, anonymizing proxies, parked and
 * grayware hosts. A gateway gives these instead of a threat verdict.
 */
const SUSPICIOUS = new Set([
  'newly_registered_domain',
  'newly_registered_domains',
  'newly_registered_websites',
  'newly_observed_domain',
  'newly_observed_domains',
  'new_domains',
  'dynamic_dns',
  'dynamic_dns_hosts',
  'dynamic_dns_sites',
  'dynamic_dns_providers',
  'dynamic_dns_and_hosting',
  'ddns',
  'proxy_avoidance_and_anonymizers',
  'proxy_avoidance',
  'anonymizer',
  'anonymizers',
  'anonymizing_proxies',
  'anonymizing_utilities',
  'open_proxies',
  'tor',
  'tor_sites',
  'grayware',
  'potentially_unwanted_software',
  'potentially_unwanted_applications',
  'parked',
  'parked_domains',
  'high_risk',
  'high_risk_sites_and_locations',
  'suspicious',
  'suspicious_destinations',
]);

/** Categories of online storage and file transfer, where stolen data is dropped. */
const FILE_SHARING = new Set([
  'file_sharing',
  'file_transfer',
  'file_storage',
  'file_storage_and_sharing',
  'file_sharing_and_storage',
  'online_storage',
  'online_storage_and_backup',
  'personal_storage',
  'personal_network_storage_and_backup',
  'cloud_storage',
  'peer_to_peer',
  'p2p',
]);

/**
 * Content delivery networks: they serve whatever their customers publish
 * (any npm or GitHub file through jsDelivr, any CloudFront distribution), so
 * the category vouches for no content and hides the origin behind the CDN's
 * own names. An attacker's implant and command server sit there as easily
 * as a vendor's assets.
 */
const CDN = new Set(['cdn', 'cdns', 'content_delivery', 'content_delivery_network', 'content_delivery_networks', 'content_server', 'content_servers']);

/** Storage services (object storage, backups, data lakes): an agent's own data at rest, its uploads and downloads by the file. */
const STORAGE = new Set(['storage', 'object_storage', 'cloud_storage', 'backup', 'online_backup', 'data_lake']);

/** Model providers (an agent's prompts and its model's answers). */
const MODEL_PROVIDER = new Set(['llm_provider', 'generative_ai', 'ai_ml', 'artificial_intelligence', 'ai', 'llm']);

/** What a category means, computed once per spelling (a gateway uses few: the map stays small). */
export interface CategoryInfo {
  key: string;
  malicious: boolean;
  phishing: boolean;
  fileSharing: boolean;
  /** Where fresh attacker infrastructure sits (see SUSPICIOUS), not a verdict. */
  suspicious: boolean;
  /** A content delivery network (see CDN): anyone's content. */
  cdn: boolean;
  /** A model provider (see MODEL_PROVIDER). */
  modelProvider: boolean;
  /** A storage service (see STORAGE). */
  storage: boolean;
}
const infos = new Map<string, CategoryInfo>();
const MAX_REMEMBERED = 4096;

/** What `category` means (one lookup for all of it). */
export function categoryInfo(category: string): CategoryInfo {
  let info = infos.get(category);
  if (info === undefined) {
    const key = category
      .trim()
      .toLowerCase()
      .replace(/\s*&\s*/g, '_and_')
      .replace(/[\s-]+/g, '_');
    info = { key, malicious: keyIn(MALICIOUS, key), phishing: keyIn(PHISHING, key), fileSharing: keyIn(FILE_SHARING, key), suspicious: keyIn(SUSPICIOUS, key), cdn: keyIn(CDN, key), modelProvider: keyIn(MODEL_PROVIDER, key), storage: STORAGE.has(key) };
    if (infos.size < MAX_REMEMBERED) infos.set(category, info);
  }
  return info;
}

/** The comparison form of a category: lower case, runs of spaces, hyphens and ampersands as one underscore. */
export function categoryKey(category: string): string {
  return categoryInfo(category).key;
}

/** True when the category says the destination is hostile (malware, command and control, botnet...). */
export function isMaliciousCategory(category: string): boolean {
  return categoryInfo(category).malicious;
}

/** True when the category names a phishing or fraud destination. */
export function isPhishingCategory(category: string): boolean {
  return categoryInfo(category).phishing;
}

/** True when the category is one where fresh attacker infrastructure sits: newly registered, dynamic DNS, anonymizer, grayware, parked. */
export function isSuspiciousCategory(category: string): boolean {
  return categoryInfo(category).suspicious;
}

/** True when the category is one of online storage or file sharing, as vendors name it (not a company's own cloud `storage`). */
export function isFileSharingCategory(category: string): boolean {
  return categoryInfo(category).fileSharing;
}

/** Whether a category key, or any part of a joined one ("spyware/adware"), is in `set`. */
function keyIn(set: ReadonlySet<string>, key: string): boolean {
  if (set.has(key)) return true;
  if (key.indexOf('/') < 0) return false;
  for (const part of key.split('/')) if (set.has(part.replace(/^_+|_+$/g, ''))) return true;
  return false;
}
