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

/** What a category means, computed once per spelling (a gateway uses few: the map stays small). */
export interface CategoryInfo {
  key: string;
  malicious: boolean;
  phishing: boolean;
  fileSharing: boolean;
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
    info = { key, malicious: keyIn(MALICIOUS, key), phishing: keyIn(PHISHING, key), fileSharing: keyIn(FILE_SHARING, key) };
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
