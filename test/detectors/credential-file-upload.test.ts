import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { createCredentialFileUploadDetector, credentialFileType, installsCredentials } from '../../detectors/credential-file-upload.js';
import { HOUR, MIN, SEC, T0, fakeContext, feed, network, resetIds, runWithRestore } from './helpers/context.js';

beforeEach(() => resetIds());

const BOX = 'upload.box.com';
const up = (o: Partial<Parameters<typeof network>[0]> = {}) =>
  network({ agent_id: 'a1', time: T0, dest_host: BOX, category: 'file_sharing', file_type: 'pem', bytes_out: 3_000, bytes_in: 400, ...o });

/** An hour of the agent's usual document uploads to its partner share. */
function history(): AgentEvent[] {
  return Array.from({ length: 12 }, (_, k) => up({ time: T0 - HOUR + k * 5 * MIN, file_type: k % 2 ? 'pdf' : 'docx', bytes_out: 400_000 }));
}

function run(events: AgentEvent[]) {
  const d = createCredentialFileUploadDetector();
  const ctx = fakeContext();
  expect(feed(d, ctx, history())).toEqual([]);
  return feed(d, ctx, events);
}

describe('credential-file-upload', () => {
  it('knows credential file types by extension, in any case, with or without a dot', () => {
    expect(credentialFileType('PFX')).toBe('pfx');
    expect(credentialFileType('.kdbx')).toBe('kdbx');
    expect(credentialFileType(' env ')).toBe('env');
    expect(credentialFileType('pdf')).toBeNull();
    expect(credentialFileType('crt')).toBeNull(); // a certificate alone is public
    expect(credentialFileType(null)).toBeNull();
    // Sized like one: a 6 MB .key is a Keynote deck, not a private key; a password database has no bound.
    expect(credentialFileType('key', 3_000)).toBe('key');
    expect(credentialFileType('key', 6_000_000)).toBeNull();
    expect(credentialFileType('kdbx', 40_000_000)).toBe('kdbx');
    expect(installsCredentials('contoso-kv.vault.azure.net')).toBe(true);
    expect(installsCredentials('management.azure.com')).toBe(true);
    expect(installsCredentials('acm.eu-west-1.amazonaws.com')).toBe(true);
    expect(installsCredentials(BOX)).toBe(false);
  });

  it('is low for one PEM file, medium from the second within 15 minutes, with the types and hosts', () => {
    const out = run([up({ event_id: 'p1' }), up({ time: T0 + 2 * MIN, file_type: 'env', event_id: 'p2' }), up({ time: T0 + 3 * MIN, file_type: 'key' })]);
    expect(out.map((x) => [x.severity, x.time])).toEqual([
      ['low', T0],
      ['medium', T0 + 2 * MIN],
    ]);
    expect(out[1]!.summary).toContain('sent 2 credential files out to upload.box.com: .pem (a PEM key or certificate), .env (an environment file)');
    expect(out[1]!.evidence.observed).toMatchObject({ uploads: 2, file_types: ['pem', 'env'], hosts: [BOX] });
    expect(out[1]!.event_ids).toEqual(['p1', 'p2']);
  });

  it('is medium at once for a password database, a PuTTY key, a keystore or a PKCS#12 bundle', () => {
    for (const t of ['kdbx', 'ppk', 'jks', 'pfx']) {
      resetIds();
      expect(run([up({ file_type: t })]).map((x) => x.severity), t).toEqual(['medium']);
    }
  });

  it('keeps uploads the gateway blocked low (nothing left), once an hour, whatever their type and number', () => {
    const blocked = (t: number, type: string) => up({ time: t, action: 'blocked', file_type: type });
    const out = run([blocked(T0, 'pem'), blocked(T0 + MIN, 'env'), blocked(T0 + 2 * MIN, 'kdbx'), blocked(T0 + 61 * MIN, 'pfx')]);
    expect(out.map((x) => [x.severity, x.time - T0])).toEqual([
      ['low', 0],
      ['low', 61 * MIN],
    ]);
    expect(out[0]!.summary).toContain('blocked by the gateway');
  });

  it('ignores downloads, tiny transfers, files too big for their type, private destinations, secrets stores and certificate planes, and two uploads far apart', () => {
    expect(run([up({ file_type: 'key', bytes_out: 12_000_000 }), up({ time: T0 + MIN, file_type: 'key', bytes_out: 30_000_000 })])).toEqual([]);
    expect(run([up({ bytes_in: 50_000 }), up({ time: T0 + MIN, bytes_out: 100 })])).toEqual([]);
    expect(run([up({ dest_host: 'files.corp.local', dest_ip: '10.0.0.8', file_type: 'pfx' })])).toEqual([]);
    expect(run([up({ dest_host: 'contoso-kv.vault.azure.net', file_type: 'pfx' }), up({ time: T0 + MIN, dest_host: 'management.azure.com', file_type: 'pfx' })])).toEqual([]);
    expect(run([up(), up({ time: T0 + 20 * MIN })]).map((x) => x.severity)).toEqual(['low']);
  });

  it('takes keys and keystores written to an Azure Storage account with an Entra token as staying in the tenant (a share\'s backup), not with a SAS or to another host', () => {
    const blob = 'northwinddata.blob.core.windows.net';
    const backup = [up({ dest_host: blob, category: 'storage', file_type: 'pfx', token_id: 'st-1' }), up({ time: T0 + MIN, dest_host: blob, category: 'storage', file_type: 'kdbx', token_id: 'st-1' })];
    expect(run(backup)).toEqual([]);
    // Without a token (a SAS: anyone's account), and to a file-sharing host with a token, they are sent out.
    expect(run(backup.map((e) => ({ ...e, token_id: null }))).map((x) => x.severity)).toEqual(['medium']);
    expect(run([up({ file_type: 'pfx', token_id: 'box-token' })]).map((x) => x.severity)).toEqual(['medium']);
  });

  it('takes a PEM sent within an hour of a credential its sponsor added for the new certificate published (to each trading partner in turn), not a key taken', () => {
    const rotation = (actor: string, pemAfter: number) => {
      const d = createCredentialFileUploadDetector();
      const ctx = fakeContext();
      feed(d, ctx, history());
      ctx.setAgent({ agent_id: 'a1', sponsors: ['alice'], credentials_added: [{ credential_id: 'cert-2', actor, time: T0 }] });
      const pem = (t: number) => up({ time: t, dest_host: 'billing.example.com', category: 'api', file_type: 'pem', bytes_out: 1_800 });
      return feed(d, ctx, [pem(T0 + pemAfter), pem(T0 + pemAfter + MIN)]).map((x) => x.severity);
    };
    expect(rotation('alice', 2 * MIN)).toEqual([]);
    expect(rotation('alice', 50 * MIN)).toEqual([]);
    // Long after, or a credential added by someone else: judged.
    expect(rotation('alice', 70 * MIN)).toEqual(['low', 'medium']);
    expect(rotation('mallory', 2 * MIN)).toEqual(['low', 'medium']);
  });

  it('learns a blueprint that sends a type to a destination routinely (2 uploads, the first an hour before)', () => {
    const d = createCredentialFileUploadDetector();
    const ctx = fakeContext();
    // A certificate job of bp1 publishes its bundle to the CDN's API every 30 minutes; the first ones are reported.
    const job = (agent: string, t: number) => up({ agent_id: agent, time: t, dest_host: 'api.cdn.example.net', category: 'api', file_type: 'pfx' });
    const early = feed(d, ctx, [job('a1', T0), job('a2', T0 + 30 * MIN)]);
    expect(early.map((x) => x.agent_id)).toEqual(['a1', 'a2']);
    expect(feed(d, ctx, [job('a3', T0 + 61 * MIN), job('a1', T0 + 2 * HOUR)])).toEqual([]);
    // Not to another destination.
    expect(feed(d, ctx, [up({ agent_id: 'a3', time: T0 + 2 * HOUR + SEC, file_type: 'pfx' })]).map((x) => x.severity)).toEqual(['medium']);
  });

  it('reports an agent once an hour at low and once a day at medium, and survives snapshot and restore', () => {
    // Each to a destination of its own (the same one an hour on would be the blueprint's routine by then).
    const at = (m: number, host: string, type = 'pem') => up({ time: T0 + m * MIN, dest_host: host, file_type: type });
    const events = [at(0, BOX), at(30, 'share2.example.com'), at(80, 'share3.example.com'), at(82, 'share3.example.com', 'env'), at(90, 'share4.example.com', 'kdbx')];
    expect(run(events).map((x) => x.severity)).toEqual(['low', 'low', 'medium']);
    const { uninterrupted, restored } = runWithRestore(createCredentialFileUploadDetector, events, 3);
    expect(uninterrupted.map((x) => x.severity)).toEqual(['medium']);
    expect(restored).toEqual(uninterrupted);
  });
});
