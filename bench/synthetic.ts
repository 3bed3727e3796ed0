// A fast, endless, deterministic stream of plausible events for benchmarks:
// agents grouped in blueprints, each with its own resources and networks,
// events in time order. Much simpler than fixtures/ (no attack scenarios)
// because a benchmark needs volume, not labels.

import type { AgentEvent } from '../contract/events.js';
import { seededRandom } from '../publish/util.js';

export function* syntheticStream(opts: { seed: number; agents: number; start: number; tenants?: number; stepMs?: number }): Generator<AgentEvent, never> {
  const rnd = seededRandom(opts.seed);
  const tenants = opts.tenants ?? 4;
  const blueprints = Math.max(1, Math.floor(opts.agents / 50));
  const resources = ['https://graph.microsoft.com', 'api://crm', 'https://storage.azure.com', 'api://billing', 'https://vault.azure.net'];
  const hosts = ['api.openai.com', 'mcp.internal', 'crm.contoso.com', 'blob.core.windows.net', 'search.internal'];
  let time = opts.start;
  let seq = 0;
  for (;;) {
    time += opts.stepMs ?? 2;
    const a = Math.floor(rnd() * opts.agents);
    const bp = a % blueprints;
    const tenant = `tenant-${bp % tenants}`;
    const agent = `agent-${a}`;
    const blueprint = `bp-${bp}`;
    const ip = `10.${bp % 250}.${(a >> 8) % 250}.${a % 250}`;
    const id = `ev-${opts.seed}-${seq++}`;
    const r = rnd();
    const resource = resources[(bp + (r < 0.5 ? 0 : 1)) % resources.length]!;
    if (r < 0.3) {
      yield {
        type: 'signin', event_id: id, time, tenant_id: tenant, agent_id: agent, agent_type: 'agent_identity', blueprint_id: blueprint,
        flow: 'client_credentials', user_id: null, credential_id: `cred-${a}`, credential_type: 'certificate', ip, asn: 8075 + (bp % 3),
        country: bp % 2 ? 'US' : 'DE', lat: bp % 2 ? 47.6 : 50.1, lon: bp % 2 ? -122.3 : 8.7, user_agent: 'agent-sdk/1.4', resource,
        result: rnd() < 0.01 ? 'failure' : 'success', error_code: null,
      };
    } else if (r < 0.55) {
      yield {
        type: 'token', event_id: id, time, tenant_id: tenant, agent_id: agent, blueprint_id: blueprint, token_id: `tok-${a}-${seq}`,
        flow: 'client_credentials', user_id: null, resource, scopes: ['User.Read', 'Files.Read'], ip, lifetime_s: 3600, decision: 'granted',
      };
    } else if (r < 0.98) {
      yield {
        type: 'network', event_id: id, time, tenant_id: tenant, agent_id: agent, blueprint_id: blueprint, ip, token_id: null,
        dest_host: hosts[(bp + Math.floor(rnd() * 2)) % hosts.length]!, dest_ip: '203.0.113.10', dest_port: 443, category: 'api', action: 'allowed',
        bytes_out: Math.floor(500 + 2000 * Math.exp(rnd() * 2)), bytes_in: Math.floor(1000 + 5000 * rnd()), file_type: null, threat: 'none', dest_agent_id: null,
      };
    } else {
      yield {
        type: 'lifecycle', event_id: id, time, tenant_id: tenant, agent_id: agent, action: 'sponsor_added', blueprint_id: blueprint,
        actor: 'admin@contoso.com', sponsor_id: `sponsor-${bp}`, credential_id: null, permission: null,
      };
    }
  }
}
