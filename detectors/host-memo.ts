// A host-name classifier, remembered: a fleet reaches a few thousand distinct
// hosts, and each event's host would otherwise be parsed again by every
// detector that classifies it. The map's own lookup reuses the string's
// cached hash; it is emptied when full (the working set refills it).

const MAX_HOSTS = 16_384;

/** `classify`, remembered per host string as the gateway wrote it. */
export function memoByHost<T>(classify: (host: string) => T): (host: string) => T {
  const seen = new Map<string, T>();
  return (host: string): T => {
    let v = seen.get(host);
    if (v === undefined && !seen.has(host)) {
      v = classify(host);
      if (seen.size >= MAX_HOSTS) seen.clear();
      seen.set(host, v);
    }
    return v as T;
  };
}
