// The outbound host allowlist: webhooks and SSF push deliveries only go to
// hosts an operator listed. A pattern is an exact host name (`hooks.example.com`,
// `127.0.0.1`, `[::1]`) or `*.suffix`, which admits every name that ends in
// `.suffix` (any depth) but not `suffix` itself. Matching is on the URL's host
// name only (any port), case-insensitive. Only http: and https: URLs pass, and
// URLs carrying credentials (user:pass@) are refused.
//
// The check is by name: a listed name that resolves to an internal address
// still passes, so list only names you control.

export type UrlCheck = { ok: true; url: URL } | { ok: false; reason: string };

const HOST_PATTERN = /^(\*\.)?(\[[0-9a-f:.]+\]|[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*)$/;

export class HostAllowlist {
  private readonly exact = new Set<string>();
  private readonly suffixes: string[] = [];

  constructor(readonly patterns: readonly string[]) {
    for (const raw of patterns) {
      const p = raw.trim().toLowerCase().replace(/\.$/, '');
      if (p === '') continue;
      if (!HOST_PATTERN.test(p)) throw new Error(`invalid allowlist pattern ${JSON.stringify(raw)}: use a host name or *.suffix`);
      if (p.startsWith('*.')) this.suffixes.push(p.slice(1));
      else this.exact.add(p);
    }
  }

  /** Parses a comma- or space-separated list (e.g. an environment variable). */
  static parse(text: string | undefined): HostAllowlist {
    return new HostAllowlist((text ?? '').split(/[\s,]+/).filter(Boolean));
  }

  get empty(): boolean {
    return this.exact.size === 0 && this.suffixes.length === 0;
  }

  allowsHost(hostname: string): boolean {
    const host = hostname.toLowerCase().replace(/\.$/, '');
    if (this.exact.has(host)) return true;
    return this.suffixes.some((s) => host.endsWith(s) && host.length > s.length);
  }

  /** Checks a delivery URL: parseable, http(s), no credentials, host on the list. */
  check(text: string): UrlCheck {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return { ok: false, reason: 'is not an absolute URL' };
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return { ok: false, reason: `scheme ${url.protocol.replace(/:$/, '')} is not allowed (use https or http)` };
    if (url.username || url.password) return { ok: false, reason: 'must not carry credentials' };
    if (!this.allowsHost(url.hostname)) return { ok: false, reason: `host ${url.hostname} is not on the outbound allowlist` };
    return { ok: true, url };
  }
}
