import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { createBulkCollectionDetector } from '../../detectors/bulk-collection.js';
import { HOUR, MIN, SEC, T0, advanceTo, fakeContext, feed, network, resetIds, runWithRestore } from './helpers/context.js';

beforeEach(() => resetIds());

const KB = 1024;
const MB = 1024 * KB;

/** Three hours of agents a1..a4 of bp1 reading ~20 KB per call from Graph every minute, with a 3 MB attachment now and then. */
function history(agents = ['a1', 'a2', 'a3', 'a4']): AgentEvent[] {
  const out: AgentEvent[] = [];
  for (let m = 0; m < 180; m++) {
    for (const [i, a] of agents.entries()) {
      out.push(network({ agent_id: a, time: T0 + m * MIN + i * SEC, dest_host: 'graph.microsoft.com', bytes_in: m % 37 === i ? 3 * MB : 20 * KB }));
    }
  }
  return out;
}

const T3 = T0 + 3 * HOUR;

/** `calls` reads of `size` bytes by `agent`, one every `every` ms from `start`. */
function pulls(agent: string, start: number, calls: number, size: number, every = 20 * SEC): AgentEvent[] {
  return Array.from({ length: calls }, (_, k) => network({ agent_id: agent, time: start + k * every, dest_host: 'graph.microsoft.com', bytes_in: size, event_id: `pull-${agent}-${k}` }));
}

/** The history (with `past` mixed in, in time order), then `events`; the detections of `events` and after. */
const run = (events: AgentEvent[], past: AgentEvent[] = [], until = T3 + HOUR) => {
  const d = createBulkCollectionDetector();
  const ctx = fakeContext();
  feed(d, ctx, [...history(), ...past].sort((x, y) => x.time - y.time));
  return [...feed(d, ctx, events), ...advanceTo(d, ctx, until)];
};

describe('bulk-collection', () => {
  it('reports an agent pulling far more than it and its blueprint ever do (low, confirmed 3 minutes later)', () => {
    // A mailbox dump: 24 reads of 4 MB within 8 minutes (96 MB), where the agent peaked at ~3 MB.
    const out = run(pulls('a2', T3, 24, 4 * MB));
    expect(out).toHaveLength(1);
    const d = out[0]!;
    expect(d).toMatchObject({ detector: 'bulk-collection', severity: 'low', agent_id: 'a2' });
    // Over 64 MB at the 16th read (T3 + 5 min), confirmed 3 minutes later.
    expect(d.time).toBe(T3 + 15 * 20 * SEC + 3 * MIN);
    expect((d.evidence.observed as { bytes_in: number }).bytes_in).toBeGreaterThanOrEqual(64 * MB);
    expect((d.evidence.baseline as { agent_peak_bytes: number }).agent_peak_bytes).toBeLessThan(4 * MB);
    expect(d.summary).toContain('graph.microsoft.com');
    expect(d.event_ids[0]).toBe('pull-a2-15');
  });

  it('reports a sweep (bulk data from 4 or more hosts) or a pull mostly over directory or file-share protocols as medium', () => {
    // Storage accounts read with their keys one after another: 2 pulls of 12 MB from each of 8 accounts, 20 s apart.
    const sweep = Array.from({ length: 16 }, (_, k) => network({ agent_id: 'a2', time: T3 + k * 20 * SEC, dest_host: `contoso${['logs', 'hr', 'fin', 'ml', 'crm', 'bak', 'legal', 'pay'][k >> 1]}.blob.core.windows.net`, category: 'storage', token_id: null, bytes_in: 12 * MB }));
    const out = run(sweep);
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([['a2', 'medium']]);
    expect(out[0]!.summary).toContain('a sweep: bulk data from 4 or more hosts');
    expect(out[0]!.evidence.observed).toMatchObject({ sweep: true });
    // The same volume from two hosts: low.
    const two = sweep.map((e, k) => ({ ...e, dest_host: k % 2 === 0 ? 'contosologs.blob.core.windows.net' : 'contosohr.blob.core.windows.net' }) as AgentEvent);
    expect(run(two).map((x) => x.severity)).toEqual(['low']);
    // A domain controller's directory over LDAPS, then SYSVOL over SMB: medium.
    const ldap = Array.from({ length: 12 }, (_, k) => network({ agent_id: 'a2', time: T3 + k * 30 * SEC, dest_host: 'dc01.corp.contoso.com', dest_ip: '10.40.0.10', dest_port: k < 10 ? 636 : 445, category: 'uncategorized', bytes_in: 9 * MB }));
    const dump = run(ldap);
    expect(dump.map((x) => x.severity)).toEqual(['medium']);
    expect(dump[0]!.summary).toContain('over directory or file-share protocols');
    // The same pulls over HTTPS: low.
    expect(run(ldap.map((e) => ({ ...e, dest_port: 443 }) as AgentEvent)).map((x) => x.severity)).toEqual(['low']);
    // Each chunk written to the backup store seconds after it is read (a system-state backup): low.
    const upload = (e: AgentEvent) => network({ agent_id: 'a2', time: e.time + 5 * SEC, dest_host: 'contosobackup.blob.core.windows.net', category: 'storage', bytes_out: 9 * MB, bytes_in: 2_000 });
    const backup = run(ldap.flatMap((e) => [e, upload(e)]));
    expect(backup.map((x) => x.severity)).toEqual(['low']);
    expect((backup[0]!.evidence.observed as { uploaded_bytes: number }).uploaded_bytes).toBeGreaterThanOrEqual(4 * 9 * MB);
    // Half of it written out: still a dump.
    expect(run(ldap.flatMap((e, k) => (k % 2 === 0 ? [e, upload(e)] : [e]))).map((x) => x.severity)).toEqual(['medium']);
  });

  it('takes a large pull from a file share by an agent that reads files from shares every day for its work grown large (low), not its directory reads', () => {
    // a2 reads a design file of 1 MB from its NAS over SMB every 20 minutes, then pulls 108 MB from it.
    const nas = (t: number, size: number, k: number) => network({ agent_id: 'a2', time: t, dest_host: 'nas01.corp.contoso.com', dest_ip: '10.40.2.20', dest_port: 445, category: 'internal', bytes_in: size, event_id: `nas-${k}` });
    const daily = Array.from({ length: 9 }, (_, k) => nas(T0 + k * 20 * MIN + 7 * SEC, MB, k));
    const pull = Array.from({ length: 12 }, (_, k) => nas(T3 + k * 30 * SEC, 9 * MB, 100 + k));
    expect(run(pull, daily).map((x) => x.severity)).toEqual(['low']);
    // The same pull by an agent that never read from a share: a dump, medium.
    expect(run(pull).map((x) => x.severity)).toEqual(['medium']);
    // Its directory over LDAPS is no file of its work: medium all the same.
    const ldap = pull.map((e) => ({ ...e, dest_port: 636 }) as AgentEvent);
    expect(run(ldap, daily).map((x) => x.severity)).toEqual(['medium']);
  });

  it('takes a pull from an RPC dynamic port of a host whose endpoint mapper the agent just called for directory replication (a DCSync): medium', () => {
    const DC = { dest_host: 'dc02.corp.contoso.com', dest_ip: '10.40.0.11', category: 'internal' };
    const mapper = network({ agent_id: 'a2', time: T3 - 20 * SEC, ...DC, dest_port: 135, bytes_out: 1_100, bytes_in: 900 });
    const replication = Array.from({ length: 10 }, (_, k) => network({ agent_id: 'a2', time: T3 + k * 15 * SEC, ...DC, dest_port: 49667, bytes_out: 25_000, bytes_in: 20 * MB }));
    const out = run([mapper, ...replication]);
    expect(out.map((x) => x.severity)).toEqual(['medium']);
    expect(out[0]!.summary).toContain('directory replication over RPC');
    // The same pull from a high port without the endpoint mapper (a service on a fixed port), or after the mapper of another host: low.
    expect(run(replication).map((x) => x.severity)).toEqual(['low']);
    expect(run([{ ...mapper, dest_host: 'app01.corp.contoso.com' } as AgentEvent, ...replication]).map((x) => x.severity)).toEqual(['low']);
    // The mapper called over 10 minutes before: low.
    expect(run([{ ...mapper, time: T3 - 11 * MIN } as AgentEvent, ...replication]).map((x) => x.severity)).toEqual(['low']);
  });

  it('reports objects written back where they were read, at their size or a few bytes more, as medium (an in-place rewrite)', () => {
    const ST = 'contosodata.blob.core.windows.net';
    const sizes = Array.from({ length: 40 }, (_, k) => 2 * MB + ((k * 7919) % 10) * MB);
    const read = (k: number, t: number) => network({ agent_id: 'a2', time: t, dest_host: ST, category: 'storage', bytes_out: 1_000, bytes_in: sizes[k]! });
    const write = (k: number, t: number, extra: number, host = ST) => network({ agent_id: 'a2', time: t, dest_host: host, category: 'storage', bytes_out: sizes[k]! + extra, bytes_in: 300 });
    const pairs = (extra: number, host = ST) => sizes.flatMap((_, k) => [read(k, T3 + k * 6 * SEC), write(k, T3 + k * 6 * SEC + 2 * SEC, extra, host)]);
    const out = run(pairs(28));
    expect(out.map((x) => x.severity)).toEqual(['medium']);
    expect(out[0]!.summary).toContain('objects written back to where they were read at the same size');
    expect((out[0]!.evidence.observed as { rewritten_in_place: number }).rewritten_in_place).toBeGreaterThanOrEqual(5);
    // Copied to another host (a backup), or written back smaller (compacted, transcoded): low.
    expect(run(pairs(28, 'contosobackup.blob.core.windows.net')).map((x) => x.severity)).toEqual(['low']);
    expect(run(pairs(-300_000)).map((x) => x.severity)).toEqual(['low']);
    // Only a few objects rewritten among the reads: low.
    const few = sizes.flatMap((_, k) => (k % 10 === 0 ? [read(k, T3 + k * 6 * SEC), write(k, T3 + k * 6 * SEC + 2 * SEC, 28)] : [read(k, T3 + k * 6 * SEC)]));
    expect(run(few).map((x) => x.severity)).toEqual(['low']);
  });

  it('reports an in-place rewrite whatever the agent\'s peak: 10 objects, 32 MiB, written back where they were read at their size', () => {
    const ST = 'contosodata.blob.core.windows.net';
    // a2 pulls 150 MB in big reads every half hour: 10x its peak is out of reach.
    const big: AgentEvent[] = [];
    for (let t = T0; t < T3; t += 30 * MIN) for (let k = 0; k < 10; k++) big.push(network({ agent_id: 'a2', time: t + k * 10 * SEC, dest_host: ST, category: 'storage', bytes_in: 15 * MB }));
    const sizes = Array.from({ length: 14 }, (_, k) => 3 * MB + ((k * 7919) % 9) * MB);
    const pair = (k: number, extra: number, host = ST) => [
      network({ agent_id: 'a2', time: T3 + k * 8 * SEC, dest_host: ST, category: 'storage', bytes_out: 900, bytes_in: sizes[k]! }),
      network({ agent_id: 'a2', time: T3 + k * 8 * SEC + 2 * SEC, dest_host: host, category: 'storage', bytes_out: sizes[k]! + extra, bytes_in: 300, event_id: `w-${k}` }),
    ];
    const out = run(sizes.flatMap((_, k) => pair(k, 16)), big);
    expect(out.map((x) => x.severity)).toEqual(['medium']);
    expect(out[0]!.summary).toContain('wrote 10 objects');
    expect(out[0]!.summary).toContain('no other agent of its blueprint did the same');
    // The first two reads (14 MB together) are under the 16 MiB a read must come in to be remembered: counted from the third.
    expect(out[0]!.event_ids).toEqual(['w-11']);
    // Held 5 minutes from the tenth write.
    expect(out[0]!.time).toBe(T3 + 11 * 8 * SEC + 2 * SEC + 5 * MIN);
    // Agents of the blueprint doing the same at one release, minutes apart (labels stamped into every document): nothing.
    const release = ['a2', 'a3'].flatMap((agent, i) =>
      sizes.flatMap((_, k) => pair(k, 400)).map((e) => ({ ...e, agent_id: agent, time: e.time + i * 4 * MIN, event_id: `${agent}-${e.event_id}` })),
    );
    expect(run(release.sort((x, y) => x.time - y.time), big)).toEqual([]);
    // Written elsewhere (a copy), or smaller (compacted): nothing.
    expect(run(sizes.flatMap((_, k) => pair(k, 16, 'contosobackup.blob.core.windows.net')), big)).toEqual([]);
    expect(run(sizes.flatMap((_, k) => pair(k, -500_000)), big)).toEqual([]);
  });

  it('takes the last full hour\'s highest pull as an agent\'s baseline when it ended a window before: an hourly backup is not reported on its second run', () => {
    // b1, of a blueprint of its own, first calls 70 minutes before T3 and reads 120 MB 5 minutes later (learning, no peers: nothing).
    const backup = (start: number, tag: string) =>
      Array.from({ length: 24 }, (_, k) => network({ agent_id: 'b1', blueprint_id: 'bk', time: start + k * 10 * SEC, dest_host: `esx0${k % 4}.dc.local`, bytes_in: 5 * MB, event_id: `${tag}-${k}` }));
    const calls = (from: number, n: number) => Array.from({ length: n }, (_, k) => network({ agent_id: 'b1', blueprint_id: 'bk', time: from + k * MIN, dest_host: 'vcsa.dc.local', bytes_in: KB }));
    const first = [...calls(T3 - 70 * MIN, 4), ...backup(T3 - 65 * MIN, 'r1'), ...calls(T3 - 60 * MIN, 51)];
    // The next run, 65 minutes later: the hour that held the first turned at T3 - 10 min (its first call an hour on), a window ago.
    expect(run([...backup(T3, 'r2'), ...calls(T3 + 5 * MIN, 3)], first)).toEqual([]);
    // A pull rising across the hour's turn (60 MB of it in the hour before): judged on the older peak alone.
    const before = [...calls(T3 - 70 * MIN, 4), ...calls(T3 - 60 * MIN, 48)];
    expect(run(backup(T3 - 12 * MIN, 'r3'), before).map((d) => [d.agent_id, d.severity])).toEqual([['b1', 'medium']]);
  });

  it('does not report volumes under 64 MB, an agent whose own peak is high, or a rise the blueprint shares', () => {
    // 60 MB: under the floor.
    expect(run(pulls('a2', T3, 15, 4 * MB))).toEqual([]);
    // An agent that exports 40 MB every few hours (its own peak): 80 MB is 2× that.
    const exporter: AgentEvent[] = [];
    for (let h = 0; h < 3; h++) exporter.push(...pulls('a3', T0 + h * HOUR + 30 * MIN, 10, 4 * MB));
    expect(run(pulls('a3', T3, 20, 4 * MB), exporter)).toEqual([]);
    // A blueprint-wide backfill: three agents pull at once.
    const backfill = [...pulls('a1', T3, 24, 4 * MB), ...pulls('a2', T3 + 5 * SEC, 24, 4 * MB), ...pulls('a4', T3 + 10 * SEC, 24, 4 * MB)];
    expect(run(backfill.sort((x, y) => x.time - y.time))).toEqual([]);
    // ...which the blueprint then knows: its last agent running the same backfill half an hour later is no news.
    expect(run([...backfill, ...pulls('a3', T3 + 30 * MIN, 24, 4 * MB)].sort((x, y) => x.time - y.time))).toEqual([]);
  });

  it('judges a minutes-old agent by its blueprint peers, and an agent with no baseline not at all', () => {
    // A new agent of bp1 pulling 100 MB: 10× what its peers ever pulled.
    expect(run(pulls('fresh', T3, 25, 4 * MB)).map((x) => [x.agent_id, x.severity])).toEqual([['fresh', 'low']]);
    // A new agent of a blueprint nobody knows: no baseline, no finding.
    const d = createBulkCollectionDetector();
    const ctx = fakeContext();
    const alone = pulls('lonely', T0, 25, 4 * MB).map((e) => ({ ...e, blueprint_id: 'bp-new' }));
    expect([...feed(d, ctx, alone), ...advanceTo(d, ctx, T0 + HOUR)]).toEqual([]);
  });

  it('learns what an agent pulls only an hour later, so a pull that builds up call by call is still a rise', () => {
    // An attachment-sized read (2.5 MB) every 20 s for 12 minutes: the sliding sum grows past 64 MB without a jump.
    expect(run(pulls('a1', T3, 36, 2.5 * MB)).map((x) => x.severity)).toEqual(['low']);
  });

  it('gives the same detections after a snapshot/restore', () => {
    const events = [...history(), ...pulls('a2', T3, 24, 4 * MB), network({ agent_id: 'a1', time: T3 + 20 * MIN })];
    const split = events.length - 10;
    const { uninterrupted, restored } = runWithRestore(() => createBulkCollectionDetector(), events, split);
    expect(uninterrupted.map((x) => x.severity)).toEqual(['low']);
    expect(restored).toEqual(uninterrupted);
  });
});
