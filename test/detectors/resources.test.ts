import { describe, expect, it } from 'vitest';
import { hashString } from '../../detectors/agent-directory.js';
import { audienceAccepts, audienceCode, audienceUri, canonicalResource, resourceHash } from '../../detectors/resources.js';

describe('resources', () => {
  it('writes one audience in one form whatever its spelling', () => {
    expect(canonicalResource('https://Graph.Microsoft.com/')).toBe('https://graph.microsoft.com');
    expect(canonicalResource(' https://graph.microsoft.com// ')).toBe('https://graph.microsoft.com');
    expect(canonicalResource('00000003-0000-0000-C000-000000000000')).toBe('https://graph.microsoft.com');
    expect(canonicalResource('797f4846-ba00-4fd7-ba43-dac1f8f63013')).toBe('https://management.azure.com');
    expect(canonicalResource('https://management.core.windows.net/')).toBe('https://management.azure.com');
    expect(canonicalResource('api://1B4F816E-5EAF-48B9-8613-7923830595AD')).toBe('1b4f816e-5eaf-48b9-8613-7923830595ad');
  });

  it('keeps distinct audiences distinct', () => {
    expect(canonicalResource('api://ticketing')).toBe('api://ticketing');
    expect(canonicalResource('https://graph.microsoft.com/beta')).toBe('https://graph.microsoft.com/beta');
    expect(canonicalResource('/')).toBe('/');
    expect(resourceHash('https://vault.azure.net')).not.toBe(resourceHash('https://storage.azure.com'));
    expect(resourceHash('https://Vault.Azure.net/')).toBe(hashString('https://vault.azure.net'));
  });

  it('knows which hosts take tokens of the Microsoft first-party audiences, and takes any Microsoft service host for them; no other audience is judged', () => {
    const graph = audienceCode('00000003-0000-0000-c000-000000000000');
    expect(graph).toBeGreaterThan(0);
    expect(audienceUri(graph)).toBe('https://graph.microsoft.com');
    expect(audienceAccepts(graph, 'graph.microsoft.com')).toBe(true);
    expect(audienceAccepts(graph, 'Graph.Microsoft.us.')).toBe(true);
    expect(audienceAccepts(graph, 'contoso.sharepoint.com')).toBe(true);
    expect(audienceAccepts(graph, 'mcp.docuflow-ai.com')).toBe(false);
    expect(audienceAccepts(graph, 'notes.azurewebsites.net')).toBe(false);
    const vault = audienceCode('https://vault.azure.net/');
    expect(audienceAccepts(vault, 'contoso-kv.vault.azure.net')).toBe(true);
    expect(audienceAccepts(vault, 'kv-exfil.example.net')).toBe(false);
    expect(audienceCode('api://ticketing')).toBe(0);
    expect(audienceAccepts(0, 'anywhere.example')).toBe(true);
    // SQL tokens: Azure SQL, Synapse and Fabric SQL endpoints (Microsoft's, though named after the customer's workspace); not a look-alike.
    const sql = audienceCode('https://database.windows.net/');
    for (const h of ['cbg-dwh.database.windows.net', 'cbg-dwh-weu.sql.azuresynapse.net', 'cbg-dwh-weu-ondemand.sql.azuresynapse.net', 'x1.datawarehouse.fabric.microsoft.com'])
      expect(audienceAccepts(sql, h), h).toBe(true);
    expect(audienceAccepts(sql, 'cbg-dwh.sql.azuresynapse.net.evil.io')).toBe(false);
    // Storage tokens: DNS-zone endpoints and OneLake.
    const storage = audienceCode('https://storage.azure.com');
    for (const h of ['acct.z21.blob.storage.azure.net', 'onelake.dfs.fabric.microsoft.com']) expect(audienceAccepts(storage, h), h).toBe(true);
    expect(audienceAccepts(storage, 'acct.blob.core.windows.net.example.com')).toBe(false);
  });
});
