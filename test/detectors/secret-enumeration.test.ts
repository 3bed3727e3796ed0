import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { createSecretEnumerationDetector, isSecretStoreHost } from '../../detectors/secret-enumeration.js';
import type { Detection } from '../../detectors/types.js';
import type { Detector } from '../../detectors/detector.js';
import { HOUR, MIN, SEC, T0, advanceTo, fakeContext, feed, network, resetIds, runWithRestore, type FakeContext } from './helpers/context.js';

beforeEach(() => resetIds());

const KV = 'contoso-kv.vault.azure.net';

/** `n` reads of the vault by `agent`, evenly over `spanMs` from `from`. */
function reads(agent: string, n: number, from: number, spanMs: number, extra: Partial<AgentEvent> = {}): AgentEvent[] {
  return Array.from({ length: n }, (_, k) => network({ agent_id: agent, time: from + Math.floor((k * spanMs) / n), dest_host: KV, ...extra } as never));
}

/** Three hours of agents a1..a3 reading a few secrets every 20 minutes (up to 6 at start-up), and calling other hosts. */
function history(): AgentEvent[] {
  const out: AgentEvent[] = [];
  for (const a of ['a1', 'a2', 'a3']) out.push(...reads(a, 6, T0, 30 * SEC));
  for (let t = T0 + 20 * MIN; t < T0 + 3 * HOUR; t += 20 * MIN) for (const a of ['a1', 'a2', 'a3']) out.push(...reads(a, 2, t, 10 * SEC), network({ agent_id: a, time: t + MIN, dest_host: 'graph.microsoft.com' }));
  return out.sort((x, y) => x.time - y.time);
}

const T3 = T0 + 3 * HOUR;

/** Feeds `events`, then lets event time pass 5 minutes beyond the last (whatever waits for the watermark is decided). */
function settle(d: Detector, ctx: FakeContext, events: AgentEvent[]): Detection[] {
  return [...feed(d, ctx, events), ...advanceTo(d, ctx, events[events.length - 1]!.time + 5 * MIN)];
}

describe('secret-enumeration', () => {
  it('knows secret stores by host', () => {
    expect(isSecretStoreHost('contoso-kv.vault.azure.net')).toBe(true);
    expect(isSecretStoreHost('contoso-hsm.managedhsm.azure.net')).toBe(true);
    expect(isSecretStoreHost('secretsmanager.eu-west-1.amazonaws.com')).toBe(true);
    expect(isSecretStoreHost('ssm.us-east-1.amazonaws.com')).toBe(true);
    expect(isSecretStoreHost('secretmanager.googleapis.com')).toBe(true);
    // Key services: a key that signs on request is an oracle, its keys what a dump is after.
    expect(isSecretStoreHost('kms.eu-west-2.amazonaws.com')).toBe(true);
    expect(isSecretStoreHost('kms-fips.us-east-1.amazonaws.com')).toBe(true);
    expect(isSecretStoreHost('cloudkms.googleapis.com')).toBe(true);
    expect(isSecretStoreHost('kinesis.eu-west-2.amazonaws.com')).toBe(false);
    expect(isSecretStoreHost('vault.corp.contoso.com')).toBe(true);
    expect(isSecretStoreHost('vault.azure.net.evil.example')).toBe(true); // a HashiCorp Vault named vault.<domain>
    expect(isSecretStoreHost('kv.vault.azure.net.evil.example')).toBe(false);
    expect(isSecretStoreHost('vaultapp.contoso.com')).toBe(false);
    expect(isSecretStoreHost('s3.us-east-1.amazonaws.com')).toBe(false);
    expect(isSecretStoreHost('graph.microsoft.com')).toBe(false);
  });

  it('fires medium when an agent reads its vault hundreds of times in minutes from its own host', () => {
    const d = createSecretEnumerationDetector();
    const ctx = fakeContext();
    expect(feed(d, ctx, history())).toEqual([]);
    const out = settle(d, ctx, reads('a2', 220, T3, 4 * MIN));
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([['a2', 'medium']]);
    // The peak is 6 (start-up, decayed a little over 3 hours): 10x is about 60 calls.
    const threshold = out[0]!.evidence.threshold as number;
    expect(threshold).toBeGreaterThanOrEqual(57);
    expect(threshold).toBeLessThanOrEqual(60);
    const calls = (out[0]!.evidence.observed as { calls: number }).calls;
    expect(calls - threshold).toBeGreaterThanOrEqual(0);
    expect(calls - threshold).toBeLessThanOrEqual(1);
    expect(out[0]!.summary).toContain(`called the secrets store contoso-kv.vault.azure.net ${calls} times within 10 min`);
    expect(out[0]!.event_ids).toHaveLength(8);
  });

  it('fires medium when an agent uses its KMS key as a signing oracle, hundreds of calls in minutes where it signs a few an hour', () => {
    const d = createSecretEnumerationDetector();
    const ctx = fakeContext();
    const kms = { dest_host: 'kms.eu-west-2.amazonaws.com' };
    expect(feed(d, ctx, history().map((e) => ({ ...e, ...(e.type === 'network' && e.dest_host === KV ? kms : {}) }) as AgentEvent))).toEqual([]);
    const out = settle(d, ctx, reads('a1', 600, T3, 8 * MIN, kms));
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([['a1', 'medium']]);
    expect(out[0]!.summary).toContain('kms.eu-west-2.amazonaws.com');
  });

  it('judges an agent with its own history against 5x its blueprint busiest agent, not 10x (one busy peer does not hide a dump by a quiet one)', () => {
    const d = createSecretEnumerationDetector();
    const ctx = fakeContext();
    // a3 reads 30 secrets in 5 minutes early on: an hour later the blueprint's peak is 30.
    const busy = reads('a3', 30, T0 + 25 * MIN, 5 * MIN);
    expect(feed(d, ctx, [...history(), ...busy].sort((x, y) => x.time - y.time))).toEqual([]);
    // a2 (own peak 6) reads 180 in 4 minutes: over 10x its own (60) and 5x the blueprint's (~160), under 10x the blueprint's (~320).
    const out = settle(d, ctx, reads('a2', 180, T3, 4 * MIN));
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([['a2', 'medium']]);
    const threshold = out[0]!.evidence.threshold as number;
    expect(threshold).toBeGreaterThanOrEqual(150);
    expect(threshold).toBeLessThanOrEqual(160);
    expect(out[0]!.summary).toMatch(/× the most it did before \(6\), 5× its blueprint's busiest agent \(\d+\)$/);
    // A new agent of the blueprint is still held to 10x the blueprint's peak: 180 reads are not enough.
    const fresh = settle(d, ctx, reads('a9', 180, T3 + 2 * HOUR, 4 * MIN));
    expect(fresh.filter((x) => x.severity === 'medium')).toEqual([]);
  });

  it('stays quiet for reads within the agent or blueprint usual peaks, and for blocked calls', () => {
    const d = createSecretEnumerationDetector();
    const ctx = fakeContext();
    feed(d, ctx, history());
    expect(feed(d, ctx, [...reads('a1', 40, T3, 2 * MIN), ...reads('a3', 300, T3 + 20 * MIN, 2 * MIN, { action: 'blocked' })])).toEqual([]);
  });

  it('takes 3 agents of the blueprint bursting together for a rollout (low from the third), and a new blueprint without history only from 200 calls', () => {
    const d = createSecretEnumerationDetector();
    const ctx = fakeContext();
    feed(d, ctx, history());
    const rollout = ['a1', 'a2', 'a3'].flatMap((a, i) => reads(a, 80, T3 + i * 20 * SEC, MIN)).sort((x, y) => x.time - y.time);
    const out = settle(d, ctx, rollout);
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([['a1', 'medium'], ['a2', 'medium'], ['a3', 'low']]);
    expect(out[2]!.summary).toContain('2 other agents of its blueprint did the same (a rollout)');
    const e = createSecretEnumerationDetector();
    expect(feed(e, fakeContext(), reads('n1', 150, T0, 3 * MIN, { blueprint_id: 'new-bp' }))).toEqual([]);
    expect(settle(createSecretEnumerationDetector(), fakeContext(), reads('n1', 250, T0, 3 * MIN, { blueprint_id: 'new-bp' })).map((x) => x.evidence.threshold)).toEqual([200]);
  });

  it('does not let a burst raise its own bar: a second dump within the hour after the refire time still fires', () => {
    const d = createSecretEnumerationDetector();
    const ctx = fakeContext();
    feed(d, ctx, history());
    const slow = reads('a1', 45, T3, 10 * MIN); // 45 in 10 min: under the 60 threshold, a candidate for the hour
    expect(feed(d, ctx, slow)).toEqual([]);
    expect(settle(d, ctx, reads('a1', 120, T3 + 12 * MIN, 3 * MIN)).map((x) => x.severity)).toEqual(['medium']);
  });

  it('takes the same agent\'s burst 11 hours to 8 days after its reported one as a recurring job (low), not one within hours nor another agent\'s', () => {
    const after = (gap: number, agent = 'a2') => {
      const d = createSecretEnumerationDetector();
      const ctx = fakeContext();
      feed(d, ctx, history());
      const first = settle(d, ctx, reads('a2', 220, T3, 4 * MIN));
      // The agents keep their usual reads meanwhile.
      for (let t = T3 + 30 * MIN; t < T3 + gap; t += 2 * HOUR) for (const a of ['a1', 'a2', 'a3']) feed(d, ctx, reads(a, 2, t, 10 * SEC));
      return [...first, ...settle(d, ctx, reads(agent, 220, T3 + gap, 4 * MIN))];
    };
    const daily = after(24 * HOUR);
    expect(daily.map((x) => [x.agent_id, x.severity])).toEqual([['a2', 'medium'], ['a2', 'low']]);
    expect(daily[1]!.summary).toContain('it did the same 24.0 h before (reported then): a recurring job');
    const ago = (daily[1]!.evidence.baseline as { previous_burst_s_ago: number }).previous_burst_s_ago;
    expect(Math.abs(ago - 24 * 3600)).toBeLessThanOrEqual(5 * 60);
    expect(after(3 * HOUR).map((x) => x.severity)).toEqual(['medium', 'medium']);
    // Nine days on, the peak has decayed (a smaller read is low on its way up), and the burst is medium again.
    const late = after(9 * 24 * HOUR);
    expect(late.at(-1)!.severity).toBe('medium');
    expect(late.some((x) => x.summary.includes('recurring job'))).toBe(false);
    // Another agent's burst the next day is its own: medium (after a low on its way up, its peak decayed).
    expect(after(24 * HOUR, 'a3').map((x) => [x.agent_id, x.severity]).at(-1)).toEqual(['a3', 'medium']);
  });

  it('survives snapshot and restore, and forgets idle agents', () => {
    const events = [...history(), ...reads('a2', 220, T3, 4 * MIN), network({ agent_id: 'a1', time: T3 + 10 * MIN, dest_host: 'graph.microsoft.com' })];
    const { uninterrupted, restored } = runWithRestore(() => createSecretEnumerationDetector(), events, events.length - 200);
    expect(uninterrupted.map((x) => x.severity)).toEqual(['medium']);
    expect(restored).toEqual(uninterrupted);
    const d = createSecretEnumerationDetector();
    feed(d, fakeContext(), history());
    expect(d.size()).toBe(4);
    d.evict(T3 + HOUR);
    expect(d.size()).toBe(0);
  });
});

describe('secret-enumeration peaks', () => {
  it('never learns a dump as the peak, even when the agent next calls hours later', () => {
    const d = createSecretEnumerationDetector();
    const ctx = fakeContext();
    feed(d, ctx, history());
    expect(settle(d, ctx, reads('a1', 300, T3, 4 * MIN)).map((x) => x.severity)).toEqual(['medium']);
    // a1 idle for 3 hours, then its usual reads; then another agent of the blueprint dumps the vault.
    feed(d, ctx, reads('a1', 2, T3 + 3 * HOUR, 10 * SEC));
    feed(d, ctx, reads('a1', 2, T3 + 5 * HOUR, 10 * SEC));
    expect(settle(d, ctx, reads('a3', 200, T3 + 6 * HOUR, 4 * MIN)).map((x) => [x.agent_id, x.severity])).toEqual([['a3', 'medium']]);
  });
});

describe('secret-enumeration candidates', () => {
  it('does not learn the part of a dump read before it crossed the threshold', () => {
    const d = createSecretEnumerationDetector();
    const ctx = fakeContext();
    feed(d, ctx, history());
    // 45 reads at the end of one sub-window, then the rest: the slide samples 45 before the dump fires.
    const start = Math.ceil(T3 / (2 * MIN)) * 2 * MIN - 30 * SEC;
    expect(settle(d, ctx, reads('a1', 300, start, 3 * MIN)).map((x) => x.severity)).toEqual(['medium']);
    feed(d, ctx, reads('a1', 2, start + 3 * HOUR, 10 * SEC));
    feed(d, ctx, reads('a1', 2, start + 5 * HOUR, 10 * SEC));
    expect(settle(d, ctx, reads('a2', 150, start + 6 * HOUR, 4 * MIN)).map((x) => [x.agent_id, x.severity])).toEqual([['a2', 'medium']]);
  });
});

describe('secret-enumeration lows', () => {
  it('reports a smaller read of the whole vault (20+ calls, 10x the peak, under the medium floor) as low, once an hour', () => {
    const d = createSecretEnumerationDetector();
    const ctx = fakeContext();
    // Agents that read one or two secrets every 20 minutes.
    const quiet: AgentEvent[] = [];
    for (let t = T0; t < T3; t += 20 * MIN) for (const a of ['a1', 'a2', 'a3']) quiet.push(...reads(a, 2, t, 10 * SEC));
    feed(d, ctx, quiet.sort((x, y) => x.time - y.time));
    const out = feed(d, ctx, [...reads('a1', 45, T3, 3 * MIN), ...reads('a1', 45, T3 + 20 * MIN, 3 * MIN)]);
    expect(out.map((x) => [x.severity, x.evidence.threshold])).toEqual([['low', 20]]);
  });
});

describe('secret-enumeration: harvest, then ship', () => {
  /** Agents reading one or two secrets every 20 minutes for 3 hours. */
  function quiet(agents = ['a1', 'a2', 'a3']): AgentEvent[] {
    const q: AgentEvent[] = [];
    for (let t = T0; t < T3; t += 20 * MIN) for (const a of agents) q.push(...reads(a, 2, t, 10 * SEC));
    return q.sort((x, y) => x.time - y.time);
  }
  const upload = (agent: string, t: number, o: Partial<AgentEvent> = {}) =>
    network({ agent_id: agent, time: t, dest_host: 'api.github.com', category: 'technology', bytes_out: 450_000, bytes_in: 2_000, ...o } as never);

  it('raises a low read to medium when the agent uploads 1 MiB within 15 minutes of it', () => {
    const d = createSecretEnumerationDetector();
    const ctx = fakeContext();
    feed(d, ctx, quiet());
    const out = settle(d, ctx, [...reads('a1', 30, T3, 2 * MIN), upload('a1', T3 + 3 * MIN), upload('a1', T3 + 4 * MIN, { dest_host: 'registry.npmjs.org' }), upload('a1', T3 + 5 * MIN)]);
    expect(out.map((x) => x.severity)).toEqual(['low', 'medium']);
    expect(out[1]!.time).toBe(T3 + 5 * MIN);
    expect(out[1]!.summary).toContain('sent 1.3 MiB out to api.github.com, registry.npmjs.org within 4 min of reading the secrets store contoso-kv.vault.azure.net 20 times');
    expect(out[1]!.evidence.observed).toMatchObject({ uploaded_bytes: 1_350_000, hosts: ['api.github.com', 'registry.npmjs.org'] });
    expect(out[1]!.event_ids).toHaveLength(3);
  });

  it('ignores uploads without a reported read, after the window, downloads, and uploads to a secrets store or a private address', () => {
    const run = (events: AgentEvent[]) => {
      resetIds();
      const d = createSecretEnumerationDetector();
      const ctx = fakeContext();
      feed(d, ctx, quiet());
      return settle(d, ctx, events).map((x) => x.severity);
    };
    expect(run([1, 2, 3].map((i) => upload('a1', T3 + i * MIN)))).toEqual([]);
    expect(run([...reads('a1', 30, T3, 2 * MIN), ...[16, 17, 18].map((i) => upload('a1', T3 + i * MIN))])).toEqual(['low']);
    expect(run([...reads('a1', 30, T3, 2 * MIN), ...[3, 4, 5].map((i) => upload('a1', T3 + i * MIN, { bytes_in: 200_000 }))])).toEqual(['low']);
    expect(run([...reads('a1', 30, T3, 2 * MIN), ...[3, 4, 5].map((i) => upload('a1', T3 + i * MIN, { dest_host: KV }))])).toEqual(['low']);
    expect(run([...reads('a1', 30, T3, 2 * MIN), ...[3, 4, 5].map((i) => upload('a1', T3 + i * MIN, { dest_host: 'backup.internal', dest_ip: '10.1.2.3' }))])).toEqual(['low']);
  });

  it('does not raise an agent whose blueprint burst with it (a configuration pushed everywhere)', () => {
    const d = createSecretEnumerationDetector();
    const ctx = fakeContext();
    const agents = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6'];
    feed(d, ctx, quiet(agents));
    const loop = ['a1', 'a2', 'a3', 'a4', 'a5'].flatMap((a, i) => reads(a, 30, T3 + i * 15 * SEC, 4 * MIN));
    const out = settle(d, ctx, [...loop, upload('a1', T3 + 6 * MIN, { bytes_out: 2_000_000 })].sort((x, y) => x.time - y.time));
    expect(out.filter((x) => x.severity === 'medium')).toEqual([]);
  });

  it('takes a burst whose calls are each followed by an upload for envelope encryption (low, no watch), and a dump among uploads for a dump', () => {
    const run = (events: AgentEvent[]) => {
      resetIds();
      const d = createSecretEnumerationDetector();
      const ctx = fakeContext();
      feed(d, ctx, quiet());
      return settle(d, ctx, events.sort((x, y) => x.time - y.time));
    };
    // 80 key wraps in 4 minutes, each followed 400 ms later by a 60 KB object to the agent's storage.
    const wraps = reads('a1', 80, T3, 4 * MIN);
    const objects = wraps.map((w) => upload('a1', w.time + 400, { dest_host: 'contosodata.blob.core.windows.net', category: 'storage', bytes_out: 60_000 }));
    const out = run([...wraps, ...objects]);
    expect(out.map((x) => x.severity)).toEqual(['low', 'low']);
    expect(out[1]!.summary).toContain('each followed within 2 s by an upload (a data key wrapped per object written)');
    // The same reads with an upload after every fifth only: a dump (medium), then shipped.
    const sparse = run([...reads('a1', 80, T3, 4 * MIN), ...objects.filter((_, k) => k % 5 === 0)]);
    expect(sparse.filter((x) => x.severity === 'medium').length).toBeGreaterThanOrEqual(1);
  });

  it('keeps the watch across a snapshot and restore', () => {
    const events = [...quiet(), ...reads('a1', 30, T3, 2 * MIN), upload('a1', T3 + 3 * MIN), upload('a1', T3 + 4 * MIN), upload('a1', T3 + 5 * MIN)];
    const { uninterrupted, restored } = runWithRestore(createSecretEnumerationDetector, events, events.length - 2);
    // The low came before the snapshot; the medium after it.
    expect(uninterrupted.map((x) => x.severity)).toEqual(['medium']);
    expect(restored).toEqual(uninterrupted);
  });
});

describe('secret-enumeration: a store new to the tenant', () => {
  const NEW = 'contoso-prod-kv.vault.azure.net';
  const run = (events: AgentEvent[]) => {
    resetIds();
    const d = createSecretEnumerationDetector();
    const ctx = fakeContext();
    feed(d, ctx, history());
    return settle(d, ctx, events.sort((x, y) => x.time - y.time));
  };

  it('is medium when one agent calls a store no agent of the tenant called before 20 times within 10 minutes', () => {
    const out = run(reads('a1', 25, T3, 3 * MIN, { dest_host: NEW }));
    const found = out.filter((x) => x.summary.includes('no agent of its tenant called before'));
    expect(found.map((x) => [x.agent_id, x.severity])).toEqual([['a1', 'medium']]);
    expect(found[0]!.evidence.observed).toMatchObject({ calls: 20, dest_host: NEW });
  });

  it('stays quiet for the tenant\'s stores, for a few calls, and for a new store several agents take up together', () => {
    expect(run(reads('a1', 25, T3, 3 * MIN)).filter((x) => x.summary.includes('no agent of its tenant'))).toEqual([]);
    expect(run(reads('a1', 12, T3, 3 * MIN, { dest_host: NEW }))).toEqual([]);
    const adopted = ['a1', 'a2', 'a3'].flatMap((a, i) => reads(a, 25, T3 + i * 30 * SEC, 3 * MIN, { dest_host: NEW }));
    expect(run(adopted).filter((x) => x.summary.includes('no agent of its tenant'))).toEqual([]);
  });
});

describe('secret-enumeration: a store new to the tenant read a little at a time', () => {
  const NEW = 'contoso-hr-kv.vault.azure.net';
  const slow = (found: Detection[]) => found.filter((x) => x.summary.includes('a little at a time'));
  const run = (events: AgentEvent[], before: AgentEvent[] = history()) => {
    resetIds();
    const d = createSecretEnumerationDetector();
    const ctx = fakeContext();
    feed(d, ctx, before);
    return settle(d, ctx, events.sort((x, y) => x.time - y.time));
  };
  /** One read of NEW by `agent` every 3 minutes, `n` of them from T3. */
  const paced = (agent: string, n: number) => reads(agent, n, T3, n * 3 * MIN, { dest_host: NEW });

  it('is medium when an established agent with its own vault reads a store new to the tenant once every few minutes, alone', () => {
    const found = slow(run(paced('a1', 14)));
    expect(found.map((x) => [x.agent_id, x.severity, x.time])).toEqual([['a1', 'medium', T3 + 9 * 3 * MIN]]);
    expect(found[0]!.evidence.observed).toMatchObject({ calls: 10, dest_host: NEW });
    expect(found[0]!.evidence.baseline).toMatchObject({ agent_store_calls_since: T0 });
  });

  it('counts reads close together once (a start-up reading the secrets), and stays quiet under 10 paced reads', () => {
    // 19 reads within 2 minutes: the agent pointed at a new vault reads its secrets at start-up.
    expect(slow(run(reads('a1', 19, T3, 2 * MIN, { dest_host: NEW })))).toEqual([]);
    expect(slow(run(paced('a1', 9)))).toEqual([]);
  });

  it('stays quiet when another agent calls the store too, or the reader is new or never used a secrets store before', () => {
    expect(slow(run([...paced('a1', 14), network({ agent_id: 'a2', time: T3 + 5 * MIN, dest_host: NEW })]))).toEqual([]);
    // a9 was first seen 30 minutes before the store's first call (a new agent with its new vault).
    const newcomer = [...history(), network({ agent_id: 'a9', time: T3 - 30 * MIN, dest_host: KV })];
    expect(slow(run(paced('a9', 14), newcomer.sort((x, y) => x.time - y.time)))).toEqual([]);
    // a8 has been active for hours but never called a secrets store: its first vault.
    const firstVault = [...history(), network({ agent_id: 'a8', time: T0, dest_host: 'graph.microsoft.com' })];
    expect(slow(run(paced('a8', 14), firstVault.sort((x, y) => x.time - y.time)))).toEqual([]);
  });
});

describe('secret-enumeration whole-blueprint misbehaviour', () => {
  /** Agents a1..a6 reading one or two secrets every 20 minutes for 3 hours (peaks of 2: bars of 20). */
  function quietFleet(): AgentEvent[] {
    const quiet: AgentEvent[] = [];
    for (let t = T0; t < T3; t += 20 * MIN) for (const a of ['a1', 'a2', 'a3', 'a4', 'a5', 'a6']) quiet.push(...reads(a, 2, t, 10 * SEC));
    return quiet.sort((x, y) => x.time - y.time);
  }

  it('takes 4 other agents of the blueprint over their bars (low) within 10 min for a rollout: a bad configuration hammering the vault from every pod', () => {
    const d = createSecretEnumerationDetector();
    const ctx = fakeContext();
    feed(d, ctx, quietFleet());
    // a2..a5 read 30 times in 4 minutes each (over their bars of 20, under the floor of 50); a1 80 times in 8 (over 50 after 5 minutes).
    const loop = [...['a2', 'a3', 'a4', 'a5'].flatMap((a, i) => reads(a, 30, T3 + i * 15 * SEC, 4 * MIN)), ...reads('a1', 80, T3, 8 * MIN)].sort((x, y) => x.time - y.time);
    const out = settle(d, ctx, loop);
    expect(out.filter((x) => x.severity === 'medium')).toEqual([]);
    // a1 is low twice: over its bar on the way up, then its burst, made a rollout.
    expect([...new Set(out.map((x) => x.agent_id))].sort()).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);
    expect(out.filter((x) => x.agent_id === 'a1')[1]!.summary).toContain('4 other agents of its blueprint did the same (a rollout)');
  });

  it('keeps a burst medium when only 3 other agents go over their bars', () => {
    const d = createSecretEnumerationDetector();
    const ctx = fakeContext();
    feed(d, ctx, quietFleet());
    const loop = [...['a2', 'a3', 'a4'].flatMap((a, i) => reads(a, 30, T3 + i * 15 * SEC, 4 * MIN)), ...reads('a1', 80, T3, 8 * MIN)].sort((x, y) => x.time - y.time);
    const out = settle(d, ctx, loop);
    expect(out.filter((x) => x.severity === 'medium').map((x) => x.agent_id)).toEqual(['a1']);
    // a1 is low on its way up (over its bar, under the floor) before its burst.
    expect(out.filter((x) => x.severity === 'low').map((x) => x.agent_id).sort()).toEqual(['a1', 'a2', 'a3', 'a4']);
  });

  it('counts an agent with a low finding and then a burst once', () => {
    const d = createSecretEnumerationDetector();
    const ctx = fakeContext();
    feed(d, ctx, quietFleet());
    // a2 goes low, then over the floor (its low and its burst are one agent); a3..a4 low: 3 others, not 4.
    const loop = [...reads('a2', 30, T3, 3 * MIN), ...reads('a2', 60, T3 + 4 * MIN, 2 * MIN), ...['a3', 'a4'].flatMap((a, i) => reads(a, 30, T3 + i * 15 * SEC, 4 * MIN)), ...reads('a1', 80, T3 + 2 * MIN, 8 * MIN)].sort((x, y) => x.time - y.time);
    const out = settle(d, ctx, loop);
    expect(out.filter((x) => x.severity === 'medium').map((x) => x.agent_id).sort()).toEqual(['a1', 'a2']);
  });
});
