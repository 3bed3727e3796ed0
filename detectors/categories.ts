// Destination categories as network gateways write them. The contract names a
// few (`malicious`, `file_sharing`, `uncategorized`...), but gateways and
// their vendors spell verdict categories their own way: `command-and-control`,
// `C2`, `Botnets`, `Malware`. Detectors compare categories through these
// helpers, so a C2 beacon is not missed for being called something else.

/** Categories that mean the destination itself is hostile. */
const MALICIOUS = new Set([
  'malicious',
  'malicious_sites',
  'malware',
  'command_and_control',
  'c2',
  'c_and_c',
  'botnet',
  'botnets',
  'spyware',
  'cryptomining',
  'cryptojacking',
  'compromised',
  'compromised_sites',
]);

/** Normalised categories by the text they were written as (a gateway uses few: the map stays small). */
const normalised = new Map<string, string>();
const MAX_REMEMBERED = 4096;

/** The comparison form of a category: lower case, runs of spaces, hyphens and ampersands as one underscore. */
export function categoryKey(category: string): string {
  let key = normalised.get(category);
  if (key === undefined) {
    key = category
      .trim()
      .toLowerCase()
      .replace(/\s*&\s*/g, '_and_')
      .replace(/[\s-]+/g, '_');
    if (normalised.size < MAX_REMEMBERED) normalised.set(category, key);
  }
  return key;
}

/** True when the category says the destination is hostile (malware, command and control, botnet...). */
export function isMaliciousCategory(category: string): boolean {
  return MALICIOUS.has(categoryKey(category));
}
