import { describe, expect, it } from 'vitest';
import {
  AgentDirectory,
  AgentStore,
  TenantMap,
  hashIgnoringDigits,
  hashString,
  peerAdopt,
  peerGroup,
  peerVerdict,
  sec,
  type SlotState,
} from '../../detectors/agent-directory.js';
import { isSanctionedActor, isVouchingSponsor } from '../../detectors/detector.js';
import { DetectionPipeline } from '../../detectors/pipeline.js';
import { lifecycle, signin, T0 } from './core-helpers.js';

describe('agent directory and shared state', () => {
  it('hashes strings deterministically; version digits do not change a client\'s hash', () => {
    expect(hashString('graph')).toBe(hashString('graph'));
    expect(hashString('graph')).not.toBe(hashString('vault'));
    expect(hashIgnoringDigits('azsdk-js/1.2.3')).toBe(hashIgnoringDigits('AZSDK-JS/1.10.0'));
    expect(hashIgnoringDigits('azsdk-js/1.2.3')).not.toBe(hashIgnoringDigits('python-requests/2.31'));
  });

  it('keys by (tenant, id) and evicts idle values', () => {
    const m = new TenantMap<{ at: number }>();
    m.set('t1', 'a', { at: 1 });
    m.set('t2', 'a', { at: 5 });
    expect(m.size).toBe(2);
    expect(m.get('t1', 'a')).toEqual({ at: 1 });
    expect(m.evict(3)).toBe(1);
    expect(m.get('t1', 'a')).toBeUndefined();
    expect(m.get('t2', 'a')).toEqual({ at: 5 });
    const capped = new TenantMap<{ at: number }>(2);
    for (const id of ['x', 'y', 'z']) capped.set('t', id, { at: 0 });
    expect([...capped.entries()].map(([, id]) => id)).toEqual(['y', 'z']);
  });

  it('remembers the addresses of the latest two successful sign-ins, distinct, across a snapshot', () => {
    const d = new AgentDirectory();
    d.observe(signin({ agent_id: 'a1', ip: '20.0.0.1', time: T0 }));
    d.observe(signin({ agent_id: 'a1', ip: '198.51.100.7', result: 'failure', error_code: 'AADSTS7000215', time: T0 + 1000 }));
    d.observe(signin({ agent_id: 'a1', ip: '20.0.0.1', time: T0 + 2000 }));
    expect(d.get('t1', 'a1')).toMatchObject({ signin_ip: '20.0.0.1', signin_ip_prev: null });
    d.observe(signin({ agent_id: 'a1', ip: '20.0.0.2', time: T0 + 3000 }));
    expect(d.get('t1', 'a1')).toMatchObject({ signin_ip: '20.0.0.2', signin_ip_prev: '20.0.0.1' });
    const restored = new AgentDirectory();
    restored.restore(JSON.parse(JSON.stringify(d.snapshot())));
    expect(restored.get('t1', 'a1')).toMatchObject({ signin_ip: '20.0.0.2', signin_ip_prev: '20.0.0.1' });
    // A snapshot from before the addresses were kept restores with none.
    const old = d.snapshot().map(({ signin_ip: _a, signin_ip_prev: _b, ...rest }) => rest);
    restored.restore(old);
    expect(restored.get('t1', 'a1')).toMatchObject({ signin_ip: null, signin_ip_prev: null });
  });

  it('remembers the latest use of the credential in use and of the one before it, late sign-ins included, across a snapshot', () => {
    const d = new AgentDirectory();
    const use = (credential_id: string, time: number, ip = '20.0.0.1') => d.observe(signin({ agent_id: 'a1', credential_id, ip, time }));
    use('c-own', T0);
    use('c-own', T0 + 60_000);
    expect(d.get('t1', 'a1')).toMatchObject({ signin_cred: { credential_id: 'c-own', time: T0 + 60_000 }, signin_cred_prev: null });
    use('c-new', T0 + 120_000, '20.9.9.9');
    // A late sign-in with the own credential, stamped before the switch, updates the one before.
    use('c-own', T0 + 90_000);
    expect(d.get('t1', 'a1')).toMatchObject({
      signin_cred: { credential_id: 'c-new', time: T0 + 120_000, ip: '20.9.9.9' },
      signin_cred_prev: { credential_id: 'c-own', time: T0 + 90_000, ip: '20.0.0.1' },
    });
    // Failures are no use.
    d.observe(signin({ agent_id: 'a1', credential_id: 'c-guess', result: 'failure', error_code: 'AADSTS7000215', time: T0 + 130_000 }));
    expect(d.get('t1', 'a1')!.signin_cred!.credential_id).toBe('c-new');
    const restored = new AgentDirectory();
    restored.restore(JSON.parse(JSON.stringify(d.snapshot())));
    expect(restored.get('t1', 'a1')).toMatchObject({ signin_cred: { credential_id: 'c-new' }, signin_cred_prev: { credential_id: 'c-own' } });
  });

  it('tells peers using a value from a deployment of it', () => {
    const g = peerGroup(T0);
    peerAdopt(g, 7, 1, T0, false, 16);
    expect(peerVerdict(g, 7, 2, T0, 60_000)).toEqual({ peersUse: false, recentAdopters: 2 });
    peerAdopt(g, 7, 2, T0, false, 16);
    expect(peerVerdict(g, 7, 3, T0 + 1000, 60_000)).toEqual({ peersUse: false, recentAdopters: 3 });
    expect(peerVerdict(g, 7, 3, T0 + 3600_000, 60_000).recentAdopters).toBe(1);
    peerAdopt(g, 7, 3, T0, true, 16);
    expect(peerVerdict(g, 7, 4, T0, 60_000).peersUse).toBe(true);
  });

  it('keeps AgentInfo from lifecycle and activity events, with interned ids', () => {
    const d = new AgentDirectory();
    d.observe(lifecycle({ action: 'created', sponsor_id: 's1', time: T0 }));
    const e = signin({ agent_id: `a${'1'}`, time: T0 + 5 });
    d.observe(e);
    expect(d.previousLastSeen('t1', 'a1')).toBe(T0);
    expect(d.get('t1', 'a1')).toMatchObject({ sponsors: ['s1'], created_seen: true, last_seen: T0 + 5, first_seen: T0 });
    expect(e.agent_id).toBe(d.get('t1', 'a1')!.agent_id);
    const copy = new AgentDirectory();
    copy.restore(JSON.parse(JSON.stringify(d.snapshot())));
    expect(copy.snapshot()).toEqual(d.snapshot());
  });

  it('marks a sponsor who appointed himself while the agent had others, until someone else appoints him', () => {
    const d = new AgentDirectory();
    d.observe(lifecycle({ action: 'created', sponsor_id: 's1', actor: 'admin', time: T0 }));
    d.observe(lifecycle({ action: 'sponsor_added', sponsor_id: 'mallory', actor: 'Mallory', time: T0 + 1 }));
    const info = () => d.get('t1', 'a1')!;
    expect(info()).toMatchObject({ sponsors: ['s1', 'mallory'], self_sponsored: ['mallory'] });
    expect([isSanctionedActor(info(), 's1'), isSanctionedActor(info(), 'mallory'), isVouchingSponsor(info(), 'mallory')]).toEqual([true, false, false]);
    const copy = new AgentDirectory();
    copy.restore(JSON.parse(JSON.stringify(d.snapshot())));
    expect(copy.get('t1', 'a1')!.self_sponsored).toEqual(['mallory']);
    d.observe(lifecycle({ action: 'sponsor_added', sponsor_id: 'mallory', actor: 's1', time: T0 + 2 }));
    expect(info().self_sponsored).toEqual([]);
    expect(isSanctionedActor(info(), 'mallory')).toBe(true);
    // The first sponsor of an agent that has none may appoint himself: nobody else vouches either.
    d.observe(lifecycle({ agent_id: 'a2', action: 'sponsor_added', sponsor_id: 'bob', actor: 'bob', time: T0 }));
    expect(d.get('t1', 'a2')).toMatchObject({ sponsors: ['bob'], self_sponsored: [] });
  });

  it('marks a sponsor appointed by an actor at risk (riskyActor) as vouching for nothing, until someone else appoints him', () => {
    const d = new AgentDirectory();
    d.riskyActor = (_t, actor) => actor === 'helpdesk-agent';
    const info = () => d.get('t1', 'a1')!;
    d.observe(lifecycle({ action: 'created', sponsor_id: 's1', actor: 'admin', time: T0 }));
    d.observe(lifecycle({ action: 'sponsor_added', sponsor_id: 'synced-guest', actor: 'helpdesk-agent', time: T0 + 1 }));
    d.observe(lifecycle({ action: 'sponsor_removed', sponsor_id: 's1', actor: 'helpdesk-agent', time: T0 + 2 }));
    expect(info()).toMatchObject({ sponsors: ['synced-guest'], self_sponsored: ['synced-guest'] });
    expect(isVouchingSponsor(info(), 'synced-guest')).toBe(false);
    // Appointed again by someone not at risk, he vouches.
    d.observe(lifecycle({ action: 'sponsor_added', sponsor_id: 'synced-guest', actor: 'it-admin', time: T0 + 3 }));
    expect(isVouchingSponsor(info(), 'synced-guest')).toBe(true);
    // An actor not at risk appoints a sponsor who vouches at once.
    d.observe(lifecycle({ agent_id: 'a2', action: 'sponsor_added', sponsor_id: 'bob', actor: 'it-admin', time: T0 }));
    expect(isVouchingSponsor(d.get('t1', 'a2')!, 'bob')).toBe(true);
  });

  it('knows an agent that lost its last sponsor as orphaned: nobody vouches for it, a sponsor who adopts himself neither, until someone else appoints one', () => {
    const d = new AgentDirectory();
    const info = () => d.get('t1', 'a1')!;
    d.observe(lifecycle({ action: 'created', sponsor_id: 's1', actor: 'admin', time: T0 }));
    expect(info().orphaned).toBe(false);
    expect(isSanctionedActor(info(), 'it-admin')).toBe(false); // has a sponsor, who is not it-admin
    d.observe(lifecycle({ action: 'sponsor_removed', sponsor_id: 's1', actor: 'hr-workflow', time: T0 + 1 }));
    expect(info()).toMatchObject({ sponsors: [], orphaned: true });
    // Without any sponsor known, anyone but the agent vouches; for an orphan, no one.
    expect(isSanctionedActor(info(), 'it-admin')).toBe(false);
    d.observe(lifecycle({ agent_id: 'a3', action: 'credential_added', actor: 'x', time: T0 }));
    expect(isSanctionedActor(d.get('t1', 'a3')!, 'it-admin')).toBe(true);
    // Adopted by a sponsor appointing himself: listed, vouching for nothing.
    d.observe(lifecycle({ action: 'sponsor_added', sponsor_id: 'mallory', actor: 'mallory', time: T0 + 2 }));
    expect(info()).toMatchObject({ sponsors: ['mallory'], self_sponsored: ['mallory'], orphaned: true });
    expect([isSanctionedActor(info(), 'mallory'), isSanctionedActor(info(), 'it-admin')]).toEqual([false, false]);
    const copy = new AgentDirectory();
    copy.restore(JSON.parse(JSON.stringify(d.snapshot())));
    expect(copy.get('t1', 'a1')!.orphaned).toBe(true);
    // Appointed by someone else: a sponsor like any other, and the agent is owned again.
    d.observe(lifecycle({ action: 'sponsor_added', sponsor_id: 'm2', actor: 'it-admin', time: T0 + 3 }));
    expect(info().orphaned).toBe(false);
    expect(isSanctionedActor(info(), 'm2')).toBe(true);
    // The removal of a sponsor never seen appointed, from an agent with none known, orphans it (as orphaned-agent reports it).
    d.observe(lifecycle({ agent_id: 'a4', action: 'sponsor_removed', sponsor_id: 'old', actor: 'hr-workflow', time: T0 }));
    expect(d.get('t1', 'a4')!.orphaned).toBe(true);
  });

  it('tells a redelivery among the agent latest 4 event ids, and changes nothing for it', () => {
    const d = new AgentDirectory();
    const events = [1, 2, 3, 4, 5].map((i) => signin({ agent_id: 'a1', event_id: `e${i}`, time: T0 + i * 1000 }));
    for (const e of events) {
      d.observe(e);
      expect(d.redelivered).toBe(false);
    }
    d.observe(signin({ agent_id: 'a1', event_id: 'e2', time: T0 + 2000 }));
    expect(d.redelivered).toBe(true);
    expect(d.get('t1', 'a1')!.last_seen).toBe(T0 + 5000);
    expect(d.previousLastSeen('t1', 'a1')).toBe(T0 + 4000);
    // Five events back is beyond what the record remembers: taken as new.
    d.observe(signin({ agent_id: 'a1', event_id: 'e1', time: T0 + 1000 }));
    expect(d.redelivered).toBe(false);
    // Another agent's event with the same id is its own event.
    d.observe(signin({ agent_id: 'a2', event_id: 'e5', time: T0 + 5000 }));
    expect(d.redelivered).toBe(false);
    // Deduplication off: the same id is observed again.
    const plain = new AgentDirectory();
    plain.dedupe = false;
    plain.observe(events[0]!);
    plain.observe(events[0]!);
    expect(plain.redelivered).toBe(false);
  });

  it('keeps the permissions granted to an agent until revoked, through snapshots, older ones included', () => {
    const d = new AgentDirectory();
    d.observe(lifecycle({ action: 'permission_granted', permission: 'Mail.Send', actor: 's1', time: T0 }));
    d.observe(lifecycle({ action: 'permission_granted', permission: 'Files.Read.All', actor: 's1', time: T0 + 1 }));
    d.observe(lifecycle({ action: 'permission_revoked', permission: 'Mail.Send', actor: 's1', time: T0 + 2 }));
    expect(d.get('t1', 'a1')!.permissions_granted).toEqual([{ permission: 'Files.Read.All', actor: 's1', time: T0 + 1 }]);
    const copy = new AgentDirectory();
    copy.restore(JSON.parse(JSON.stringify(d.snapshot())));
    expect(copy.get('t1', 'a1')!.permissions_granted).toEqual([{ permission: 'Files.Read.All', actor: 's1', time: T0 + 1 }]);
    // A snapshot taken before permissions were tracked has none.
    const old = d.snapshot().map(({ permissions_granted: _dropped, ...rest }) => rest);
    const restored = new AgentDirectory();
    restored.restore(old as never);
    expect(restored.get('t1', 'a1')!.permissions_granted).toEqual([]);
  });

  it('attaches per-agent state to the directory record, and forgets it on eviction and restore', () => {
    interface S extends SlotState {
      n: number;
    }
    const store = new AgentStore<S>();
    const p = new DetectionPipeline({ detectors: [] });
    const ctx = p.context;
    p.process(signin({ time: T0 }));
    expect(store.get(ctx, 't1', 'a1')).toBeUndefined();
    store.set(ctx, 't1', 'a1', { at: sec(T0), e: 0, n: 1 });
    expect(store.get(ctx, 't1', 'a1')!.n).toBe(1);
    // The same state outside of the agent's events.
    expect(store.peek('t1', 'a1')!.n).toBe(1);
    store.evict(T0 + 1000);
    expect(store.get(ctx, 't1', 'a1')).toBeUndefined();
    store.set(ctx, 't1', 'a1', { at: sec(T0) + 2, e: 0, n: 2 });
    const snap = store.snapshot();
    store.restore([['t1', 'a1', { at: sec(T0) + 2, e: 0, n: 9 }]]);
    expect(store.get(ctx, 't1', 'a1')!.n).toBe(9);
    expect(snap[0]![2].n).toBe(2);
  });
});
