// Realistic signin/network events for benchmarks and volume tests: a fleet of
// 2000 agents across 5 tenants, deterministic for a seed.

import type { AgentEvent, NetworkEvent, SigninEvent } from '../../contract/events.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function realisticEvents(n: number, seed = 7, start = Date.UTC(2025, 5, 1)): AgentEvent[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const tenants = ['contoso', 'fabrikam', 'northwind', 'adatum', 'tailspin'];
  const resources = ['https://graph.microsoft.com/', 'https://vault.azure.net/', 'https://storage.azure.com/', 'https://api.github.com/'];
  const countries = ['US', 'DE', 'GB', 'FR', 'NL', 'IE', 'JP'];
  const hosts = ['api.openai.com', 'files.contoso.com', 'login.microsoftonline.com', 'pastebin.com', 'cdn.example.net', 'github.com'];
  const out: AgentEvent[] = [];
  let t = start;
  for (let i = 0; i < n; i++) {
    t += Math.floor(r() * 20);
    const a = Math.floor(r() * 2000);
    const tenant = tenants[a % tenants.length] as string;
    const agent = `agent-${a.toString().padStart(5, '0')}-${(a * 2654435761 >>> 0).toString(16)}`;
    const bp = a % 3 === 0 ? null : `bp-${a % 40}`;
    const ip = `10.${a % 256}.${(a >> 8) % 256}.${Math.floor(r() * 254) + 1}`;
    const id = `${t.toString(36)}-${i.toString(36)}-${Math.floor(r() * 1e9).toString(36)}`;
    if (r() < 0.5) {
      const ok = r() < 0.97;
      const e: SigninEvent = {
        type: 'signin', event_id: id, time: t, tenant_id: tenant, agent_id: agent,
        agent_type: pick(['agent_identity', 'agent_user', 'blueprint_principal'] as const), blueprint_id: bp,
        flow: pick(['client_credentials', 'on_behalf_of', 'agent_user'] as const),
        user_id: `user-${a % 500}`, credential_id: `cred-${a}`, credential_type: pick(['certificate', 'client_secret', 'federated', 'managed_identity'] as const),
        ip, asn: 8075 + (a % 30), country: pick(countries), lat: 40 + r() * 10, lon: -5 + r() * 20,
        user_agent: `agent-runtime/${1 + (a % 4)}.${a % 10} (linux)`, resource: pick(resources),
        result: ok ? 'success' : 'failure', error_code: ok ? null : 'AADSTS7000215',
      };
      out.push(e);
    } else {
      const e: NetworkEvent = {
        type: 'network', event_id: id, time: t, tenant_id: tenant, agent_id: agent, blueprint_id: bp, ip,
        token_id: `tok-${Math.floor(r() * 1e8).toString(36)}`, dest_host: pick(hosts),
        dest_ip: `203.0.113.${Math.floor(r() * 254) + 1}`, dest_port: pick([443, 443, 443, 80, 8443]),
        category: pick(['ai', 'file_sharing', 'identity', 'code_hosting', 'cdn']), action: r() < 0.95 ? 'allowed' : 'blocked',
        bytes_out: Math.floor(r() * 200_000), bytes_in: Math.floor(r() * 2_000_000),
        file_type: r() < 0.2 ? 'application/pdf' : null, threat: r() < 0.99 ? 'none' : 'threat_intel', dest_agent_id: null,
      };
      out.push(e);
    }
  }
  return out;
}
