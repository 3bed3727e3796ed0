import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { createBackdoorCredentialDetector } from '../../detectors/backdoor-credential.js';
import { DAY, HOUR, MIN, SEC, T0, advanceTo, fakeContext, feed, lifecycle, resetIds, runWithRestore, signin } from './helpers/context.js';

beforeEach(() => resetIds());

const HOME = '20.42.10.7';
const ELSEWHERE = '20.42.77.19'; // same cloud, same region, another /24: the attacker's VM

/** The agent created with sponsor s1 and working with its own credential from HOME every 2 minutes for `minutes`. */
function working(minutes: number, start = T0): AgentEvent[] {
  const out: AgentEvent[] = [lifecycle({ action: 'created', sponsor_id: 's1', actor: 'admin', time: start - DAY })];
  for (let m = 0; m < minutes; m += 2) out.push(signin({ credential_id: 'c-own', ip: HOME, time: start + m * MIN }));
  return out;
}

/** `actor` adds credential c-new at T0 + 10 min; it is used from `ip` every 3 minutes from T0 + 15 min for `uses` sign-ins. */
function backdoor(actor: string, ip = ELSEWHERE, uses = 4, addedAt = T0 + 10 * MIN): AgentEvent[] {
  const out: AgentEvent[] = [lifecycle({ action: 'credential_added', credential_id: 'c-new', actor, time: addedAt })];
  for (let k = 0; k < uses; k++) out.push(signin({ credential_id: 'c-new', ip, time: T0 + 15 * MIN + k * 3 * MIN + 30 * SEC }));
  return out;
}

const byTime = (events: AgentEvent[]) => [...events].sort((a, b) => a.time - b.time);
const run = (events: AgentEvent[], ctx = fakeContext()) => feed(createBackdoorCredentialDetector(), ctx, byTime(events));

describe('backdoor-credential', () => {
  it('fires (medium) once when a credential added by a non-sponsor runs from another subnet beside the agent own credential', () => {
    const out = run([...working(40), ...backdoor('mallory')]);
    expect(out).toHaveLength(1);
    const d = out[0]!;
    expect(d.severity).toBe('medium');
    // The agent's own credential is used again at T0 + 16 min, after the added one's first use at 15.5 min.
    expect(d.time).toBe(T0 + 16 * MIN);
    expect(d.evidence.observed).toMatchObject({ credential_id: 'c-new', ip: ELSEWHERE, added_by: 'mallory' });
    expect(d.evidence.baseline).toMatchObject({ credential_id: 'c-own', ip: HOME, orphaned: false });
    expect(d.summary).toContain('who does not vouch for it');
    expect(d.event_ids).toHaveLength(3);
  });

  it('fires at once, on both, when the added credential is used from a rented hosting network (not a hyperscaler, not the own credential\'s) while the agent\'s own is in use', () => {
    // The helpdesk agent h1 adds c-new to a1 (whose own credential signs in from Azure until T0 + 14 min); it is used from Alibaba Cloud Hong Kong.
    const helpdesk = signin({ agent_id: 'h1', blueprint_id: 'bp-helpdesk', credential_id: 'c-h1', ip: '20.96.59.200', time: T0 + 5 * MIN });
    const added = lifecycle({ action: 'credential_added', credential_id: 'c-new', actor: 'h1', time: T0 + 10 * MIN });
    const use = (ip: string, asn: number) => signin({ credential_id: 'c-new', ip, asn, country: 'HK', time: T0 + 15 * MIN + 30 * SEC, event_id: 'rented' });
    const out = run([...working(15), helpdesk, added, use('47.242.118.135', 45102)]);
    expect(out.map((x) => [x.agent_id, x.severity, x.time])).toEqual([
      ['a1', 'medium', T0 + 15 * MIN + 30 * SEC],
      ['h1', 'medium', T0 + 15 * MIN + 30 * SEC],
    ]);
    expect(out[0]!.summary).toContain('a rented hosting network (AS45102) the agent\'s own credential c-own does not sign in from');
    // From a hyperscaler (where organisations run), or from the rented network the agent itself runs on: the own credential must be seen beside it.
    expect(run([...working(15), helpdesk, added, use('3.1.20.9', 16509)])).toEqual([]);
    const onAlibaba: AgentEvent[] = working(15).map((e) => (e.type === 'signin' ? { ...e, asn: 45102, ip: '47.242.10.7' } : e));
    expect(run([...onAlibaba, helpdesk, added, use('47.242.118.135', 45102)])).toEqual([]);
    // The own credential (watched since the addition) silent for more than 90 minutes before: the agent moved (a migration), not judged at once.
    const early = lifecycle({ action: 'credential_added', credential_id: 'c-new', actor: 'h1', time: T0 - 3 * HOUR });
    expect(run([...working(15, T0 - 3 * HOUR + MIN), { ...helpdesk, time: T0 - 3 * HOUR - MIN }, early, use('47.242.118.135', 45102)])).toEqual([]);
    // Added by a sponsor: vouched for.
    expect(run([...working(15), helpdesk, lifecycle({ action: 'credential_added', credential_id: 'c-new', actor: 's1', time: T0 + 10 * MIN }), use('47.242.118.135', 45102)])).toEqual([]);
  });

  it('also reports the actor when it is another agent of the tenant (owner rights over the target abused), not a person', () => {
    // The devops agent d1 is known to the directory (it signed in); it adds a password to a1.
    const devops = signin({ agent_id: 'd1', blueprint_id: 'bp-devops', credential_id: 'c-d1', ip: '20.96.59.200', time: T0 + 5 * MIN });
    const out = run([...working(40), devops, ...backdoor('d1')]);
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([
      ['a1', 'medium'],
      ['d1', 'medium'],
    ]);
    expect(out[1]!.summary).toContain('Agent d1 added credential c-new to agent a1');
    expect(out[1]!.evidence.observed).toMatchObject({ target_agent_id: 'a1' });
    // A person (not in the directory) is named in the finding but gets none.
    expect(run([...working(40), ...backdoor('mallory@contoso.com')]).map((x) => x.agent_id)).toEqual(['a1']);
  });

  it('fires at once, on both, when an agent adds a credential to another and it is used from that agent\'s own address (it signs in as the agent it owns); not for an agent it just created, nor a person\'s addition', () => {
    // The devops agent d1 works from its runner 20.96.59.200; it adds c-new to a1 and signs in as a1 from there.
    const devops = signin({ agent_id: 'd1', blueprint_id: 'bp-devops', credential_id: 'c-d1', ip: '20.96.59.200', time: T0 + 5 * MIN });
    const fromRunner = (agent = 'a1') => signin({ agent_id: agent, credential_id: 'c-new', ip: '20.96.59.201', time: T0 + 11 * MIN, event_id: 'validate' });
    const out = run([...working(40), devops, lifecycle({ action: 'credential_added', credential_id: 'c-new', actor: 'd1', time: T0 + 10 * MIN }), fromRunner()]);
    expect(out.map((x) => [x.agent_id, x.severity, x.time])).toEqual([
      ['a1', 'medium', T0 + 11 * MIN],
      ['d1', 'medium', T0 + 11 * MIN],
    ]);
    expect(out[0]!.summary).toContain('where d1 itself signs in (20.96.59.200)');
    expect(out[1]!.summary).toContain('Agent d1 added credential c-new to agent a1');
    // The agent it created minutes before for its sponsor: provisioning, and its smoke test.
    const created = [
      lifecycle({ agent_id: 'n1', action: 'created', sponsor_id: 's1', actor: 'd1', time: T0 + 8 * MIN }),
      lifecycle({ agent_id: 'n1', action: 'credential_added', credential_id: 'c-new', actor: 'd1', time: T0 + 10 * MIN }),
    ];
    expect(run([devops, ...created, fromRunner('n1')])).toEqual([]);
    // The two behind one NAT gateway (the agent works from the runner's /24): a rotation put to use where the agent runs.
    const shared: AgentEvent[] = [lifecycle({ action: 'created', sponsor_id: 's1', actor: 'admin', time: T0 - DAY })];
    for (let m = 0; m < 40; m += 2) shared.push(signin({ credential_id: 'c-own', ip: '20.96.59.77', time: T0 + m * MIN }));
    expect(run([...shared, devops, lifecycle({ action: 'credential_added', credential_id: 'c-new', actor: 'd1', time: T0 + 10 * MIN }), fromRunner()])).toEqual([]);
    // A person (not in the directory) adding it: judged as before (no finding without the agent's own credential beside it).
    expect(run([...working(40), devops, lifecycle({ action: 'credential_added', credential_id: 'c-new', actor: 'mallory@contoso.com', time: T0 + 10 * MIN }), fromRunner()]).map((x) => x.time)).toEqual([T0 + 12 * MIN]);
  });

  it('does not fire on a credential added by the agent sponsor, a rotation in place, or a migration', () => {
    // The sponsor's own credential, same use: his to add.
    expect(run([...working(40), ...backdoor('s1')])).toEqual([]);
    // A non-sponsor's rotation rolled out where the agent runs (same /24), old and new side by side.
    expect(run([...working(40), ...backdoor('platform-automation', '20.42.10.99')])).toEqual([]);
    // A migration: the new credential at the new place, the old one no longer used after it.
    expect(run([...working(15), ...backdoor('platform-automation')])).toEqual([]);
  });

  it('fires on a credential added by a sponsor appointed within the hour before (a sponsorship laundered by a compromised administrator); not one of longer standing', () => {
    const appoint = (at: number) => lifecycle({ action: 'sponsor_added', sponsor_id: 'guest-7', actor: 'admin', time: at });
    // Medium at the added credential's first use away from the agent's own (T0 + 15.5 min), not at the own one's next use.
    const out = run([...working(40), appoint(T0 + 4 * MIN), ...backdoor('guest-7')]);
    expect(out.map((d) => [d.severity, d.time])).toEqual([['medium', T0 + 15 * MIN + 30 * SEC]]);
    expect(out[0]!.summary).toContain('by guest-7, appointed its sponsor 6 min before (a sponsor that new vouches for nothing), is used from 20.42.77.19, away from where the agent');
    // The agent's own credential signing in hourly (a token cache): its last use before the addition is where it runs.
    const hourly = [lifecycle({ action: 'created', sponsor_id: 's1', actor: 'admin', time: T0 - DAY }), signin({ credential_id: 'c-own', ip: HOME, time: T0 - 20 * MIN })];
    expect(run([...hourly, appoint(T0 + 4 * MIN), ...backdoor('guest-7')]).map((d) => [d.severity, d.time])).toEqual([['medium', T0 + 15 * MIN + 30 * SEC]]);
    expect(out[0]!.evidence.observed).toMatchObject({ added_by: 'guest-7', adder_appointed_sponsor_at: T0 + 4 * MIN });
    // Appointed 2 hours before adding it: a sponsor like any other.
    expect(run([...working(40), appoint(T0 - 110 * MIN), ...backdoor('guest-7')])).toEqual([]);
    // A new sponsor rotating the credential where the agent runs: no finding.
    expect(run([...working(40), appoint(T0 + 4 * MIN), ...backdoor('guest-7', '20.42.10.99')])).toEqual([]);
    // Another sponsor appointed meanwhile does not make the adder's addition unvouched.
    expect(run([...working(40), appoint(T0 + 4 * MIN), ...backdoor('s1')])).toEqual([]);
  });

  it('fires at its first use elsewhere on a credential the agent added to itself (addPassword on its own identity), hours after the addition', () => {
    const selfAdded = [lifecycle({ action: 'credential_added', credential_id: 'c-self', actor: 'a1', time: T0 - 2 * HOUR })];
    const hourly = [lifecycle({ action: 'created', sponsor_id: 's1', actor: 'admin', time: T0 - DAY }), signin({ credential_id: 'c-own', ip: HOME, time: T0 - 3 * HOUR }), signin({ credential_id: 'c-own', ip: HOME, time: T0 - 20 * MIN })];
    const use = signin({ credential_id: 'c-self', ip: ELSEWHERE, time: T0 + 5 * MIN });
    const out = run([...hourly, ...selfAdded, use]);
    expect(out.map((d) => [d.severity, d.time])).toEqual([['medium', T0 + 5 * MIN]]);
    expect(out[0]!.summary).toContain('which agent a1 added to itself 2.1 h before, is used from 20.42.77.19');
    // Used where the agent runs (a self-rotation): nothing.
    expect(run([...hourly, ...selfAdded, signin({ credential_id: 'c-self', ip: '20.42.10.99', time: T0 + 5 * MIN })])).toEqual([]);
  });

  it('takes a sponsor appointed as the agent is set up (within its first hour) as its owner: the credential it adds then is provisioning', () => {
    // Created without a sponsor, its creator appointed 2 s later, who adds its certificate; the agent works from HOME, then a
    // credential the creator adds the next day is used elsewhere beside it: no laundered sponsorship, nothing at once.
    const setup: AgentEvent[] = [
      lifecycle({ action: 'created', sponsor_id: null, actor: 'creator', time: T0 - DAY }),
      lifecycle({ action: 'sponsor_added', sponsor_id: 'creator', actor: 'creator', time: T0 - DAY + 2 * SEC }),
      lifecycle({ action: 'credential_added', credential_id: 'c-own', actor: 'creator', time: T0 - DAY + 20 * SEC }),
    ];
    for (let m = 0; m < 40; m += 2) setup.push(signin({ credential_id: 'c-own', ip: HOME, time: T0 + m * MIN }));
    expect(run([...setup, ...backdoor('creator')])).toEqual([]);
  });

  it('takes a credential the agent creator (not its sponsor) adds within the hour of creating it for provisioning, not one it adds later', () => {
    // A provisioning principal creates the agent for sponsor s1 and gives it its secret 2 minutes later; the agent works
    // from HOME with it. A credential of the thief's, added by a stranger, runs from ELSEWHERE: the finding names the
    // stranger's credential, not the agent's own.
    const setup: AgentEvent[] = [
      lifecycle({ action: 'created', sponsor_id: 's1', actor: 'provisioner', time: T0 - DAY }),
      lifecycle({ action: 'credential_added', credential_id: 'c-own', actor: 'provisioner', time: T0 - DAY + 2 * MIN }),
    ];
    const home = (minutes: number) => Array.from({ length: minutes / 2 }, (_, k) => signin({ credential_id: 'c-own', ip: HOME, time: T0 + k * 2 * MIN }));
    const out = run([...setup, ...home(40), ...backdoor('mallory')]);
    expect(out.map((d) => (d.evidence.observed as { credential_id: string }).credential_id)).toEqual(['c-new']);
    // Alone, the provisioned secret is no backdoor, wherever the agent's other credential runs.
    expect(run([...setup, ...home(40), ...backdoor('s1')])).toEqual([]);
    // The same creator adding a credential a day after it created the agent vouches for nothing.
    const sponsored = [setup[0]!, lifecycle({ action: 'credential_added', credential_id: 'c-own', actor: 's1', time: T0 - DAY + 2 * MIN })];
    expect(run([...sponsored, ...home(40), ...backdoor('provisioner')]).map((d) => (d.evidence.observed as { credential_id: string }).credential_id)).toEqual(['c-new']);
  });

  it('fires on a credential a stranger added to the blueprint principal, presented by an agent of the blueprint beside its own; not one its sponsor added, nor for an agent of another blueprint', () => {
    // The blueprint principal bp-p (same blueprint) gets a certificate from an administrator who sponsors nothing; the
    // agent's federated sign-ins present it from ELSEWHERE while its own secret keeps signing in at HOME.
    const principalCert = (actor: string) => lifecycle({ agent_id: 'bp-p', action: 'credential_added', credential_id: 'cert-bp', actor, time: T0 + 10 * MIN });
    const federated = (agent = 'a1', blueprint = 'bp1') =>
      [0, 1, 2].map((k) => signin({ agent_id: agent, blueprint_id: blueprint, credential_id: 'cert-bp', credential_type: 'federated', ip: ELSEWHERE, time: T0 + 15 * MIN + k * 3 * MIN }));
    const out = run([...working(40), principalCert('app-admin@contoso.com'), ...federated()]);
    expect(out).toHaveLength(1);
    expect(out[0]!.agent_id).toBe('a1');
    expect(out[0]!.time).toBe(T0 + 16 * MIN);
    expect(out[0]!.evidence.observed).toMatchObject({ credential_id: 'cert-bp', added_by: 'app-admin@contoso.com', added_to: 'bp-p', ip: ELSEWHERE });
    expect(out[0]!.summary).toContain('added to bp-p of the agent\'s blueprint');
    // The agent's sponsor added it: his to add.
    expect(run([...working(40), principalCert('s1'), ...federated()])).toEqual([]);
    // An agent of another blueprint presenting a credential added to bp-p: not its blueprint's.
    const other: AgentEvent[] = [lifecycle({ agent_id: 'z1', blueprint_id: 'bp-2', action: 'created', sponsor_id: 's2', actor: 'admin', time: T0 - DAY })];
    for (let m = 0; m < 40; m += 2) other.push(signin({ agent_id: 'z1', blueprint_id: 'bp-2', credential_id: 'c-z1', ip: HOME, time: T0 + m * MIN }));
    expect(run([...other, principalCert('app-admin@contoso.com'), ...federated('z1', 'bp-2')])).toEqual([]);
  });

  it('fires on a swap: the added credential used elsewhere while the agent own workload, its credential removed, keeps being rejected at home; not a migration or a rotation in place', () => {
    /** The agent works until T0 + 10 min; mallory adds c-new at 10 min and removes c-own at 11 min; from then on its sign-ins at home fail every `every` minutes until `until`. */
    const swap = (ip: string, failures: boolean, every = 2, until = 40) => {
      const out: AgentEvent[] = [...working(10), lifecycle({ action: 'credential_removed', credential_id: 'c-own', actor: 'mallory', time: T0 + 11 * MIN })];
      if (failures) for (let m = 12; m < until; m += every) out.push(signin({ credential_id: null, ip: HOME, time: T0 + m * MIN, result: 'failure', error_code: 'AADSTS7000215' }));
      return [...out, ...backdoor('mallory', ip)];
    };
    const out = run(swap(ELSEWHERE, true));
    expect(out.map((d) => [d.severity, d.time])).toEqual([['medium', T0 + 16 * MIN]]);
    expect(out[0]!.summary).toContain('keeps presenting its credential c-own, now rejected, from 20.42.10.7 (locked out of its own identity)');
    expect(out[0]!.evidence.baseline).toMatchObject({ credential_id: 'c-own', last_use_rejected: true });
    // Rejections every 30 minutes (an hourly token cache): caught at the next one after the thief's first use.
    expect(run(swap(ELSEWHERE, true, 30, 50)).map((d) => d.time)).toEqual([T0 + 42 * MIN]);
    // A migration: the old workload stopped, nothing presented at home after the swap.
    expect(run(swap(ELSEWHERE, false))).toEqual([]);
    // A rotation: the new credential used where the agent runs while stragglers are still rejected there.
    expect(run(swap('20.42.10.99', true))).toEqual([]);
    // The sponsor swapping the credential is his to do.
    expect(run([...swap(ELSEWHERE, true).filter((e) => e.type !== 'lifecycle' || e.action === 'created'), lifecycle({ action: 'credential_added', credential_id: 'c-new', actor: 's1', time: T0 + 10 * MIN })])).toEqual([]);
    // The thief failing with his own added credential is no use of the agent's.
    const thiefFails = [...working(10), lifecycle({ action: 'credential_added', credential_id: 'c-new', actor: 'mallory', time: T0 + 10 * MIN }), signin({ credential_id: 'c-new', ip: ELSEWHERE, time: T0 + 12 * MIN }), signin({ credential_id: 'c-new', ip: HOME, time: T0 + 14 * MIN, result: 'failure', error_code: 'AADSTS7000215' })];
    expect(run(thiefFails)).toEqual([]);
  });

  it('does not fire on a credential added more than 7 days before, nor when the own credential was last used over 90 minutes apart', () => {
    expect(run([...working(40), ...backdoor('mallory', ELSEWHERE, 4, T0 - 8 * DAY)])).toEqual([]);
    // The own credential resumes 100 minutes after the added one's only use; 60 minutes after (a cached token's lifetime) is still beside it.
    const resumes = (after: number) => [...working(14), signin({ credential_id: 'c-own', ip: HOME, time: T0 + 15 * MIN + 30 * SEC + after })];
    expect(run([...resumes(100 * MIN), ...backdoor('mallory', ELSEWHERE, 1)])).toEqual([]);
    expect(run([...resumes(60 * MIN), ...backdoor('mallory', ELSEWHERE, 1)]).map((d) => d.severity)).toEqual(['medium']);
  });

  it('fires at once on a credential added to a managed identity by a non-sponsor and used elsewhere within the day of its own sign-in (its token lives a day)', () => {
    // A backup job on a managed identity: one sign-in (24 h token) at T0 - 7 h, working since without signing in again.
    const managed = (before: number) => [
      lifecycle({ action: 'created', sponsor_id: 's1', actor: 'admin', time: T0 - 3 * DAY }),
      signin({ credential_id: 'mi-1', credential_type: 'managed_identity', ip: HOME, time: T0 - before }),
    ];
    const fic = (actor: string, ip = ELSEWHERE) => [
      lifecycle({ action: 'credential_added', credential_id: 'fic-1', actor, time: T0 }),
      signin({ credential_id: 'fic-1', credential_type: 'federated', ip, time: T0 + 4 * MIN }),
    ];
    const out = run([...managed(7 * HOUR), ...fic('mallory')]);
    expect(out.map((d) => [d.severity, d.time])).toEqual([['medium', T0 + 4 * MIN]]);
    expect(out[0]!.evidence.baseline).toMatchObject({ credential_id: 'mi-1', ip: HOME });
    // Its sponsor's credential; one used where the identity runs; a managed identity last seen over a day before; an ordinary credential 7 hours before: nothing.
    expect(run([...managed(7 * HOUR), ...fic('s1')])).toEqual([]);
    expect(run([...managed(7 * HOUR), ...fic('mallory', '20.42.10.99')])).toEqual([]);
    expect(run([...managed(25 * HOUR), ...fic('mallory')])).toEqual([]);
    const secret = [lifecycle({ action: 'created', sponsor_id: 's1', actor: 'admin', time: T0 - 3 * DAY }), signin({ credential_id: 'c-own', ip: HOME, time: T0 - 7 * HOUR })];
    expect(run([...secret, ...fic('mallory')])).toEqual([]);
  });

  it('fires when the thief signs in with the added credential before the agent next signs in with its own (the watch begins with the thief)', () => {
    // The agent signs in every 2 minutes (T0, T0 + 2 min...); the credential is added at T0 + 10 min + 10 s, used 20 s later.
    const events = [...working(40), ...backdoor('mallory', ELSEWHERE, 4, T0 + 10 * MIN + 10 * SEC)].map((e) =>
      e.type === 'signin' && e.credential_id === 'c-new' ? { ...e, time: e.time - 5 * MIN } : e,
    );
    const out = run(events);
    expect(out.map((d) => [d.severity, d.time])).toEqual([['medium', T0 + 12 * MIN]]);
    // But not beside a credential added after it (a sponsor's rotation rolled out where the agent runs): not the agent's own of before.
    const rotated = [
      ...byTime(events).filter((e) => !(e.type === 'signin' && e.credential_id === 'c-own' && e.time > T0 + 10 * MIN)),
      lifecycle({ action: 'credential_added', credential_id: 'c-rot', actor: 's1', time: T0 + 10 * MIN + 20 * SEC }),
      signin({ credential_id: 'c-rot', ip: HOME, time: T0 + 12 * MIN }),
    ];
    expect(run(rotated)).toEqual([]);
  });

  it('trusts nobody for an orphaned agent, not even a sponsor who appointed himself', () => {
    const orphaned = [...working(40), lifecycle({ action: 'sponsor_removed', sponsor_id: 's1', actor: 'hr-workflow', time: T0 - 12 * 60 * MIN })];
    const byAdmin = run([...orphaned, ...backdoor('it-admin')]);
    expect(byAdmin.map((d) => d.severity)).toEqual(['medium']);
    expect(byAdmin[0]!.summary).toContain('the agent has no sponsor');
    const adopted = [...orphaned, lifecycle({ action: 'sponsor_added', sponsor_id: 'mallory', actor: 'mallory', time: T0 + 5 * MIN })];
    expect(run([...adopted, ...backdoor('mallory')]).map((d) => d.severity)).toEqual(['medium']);
    // Once someone else appoints a sponsor (more than an hour before: see the laundered sponsorship), that sponsor's credential is his to add.
    const owned = [...orphaned, lifecycle({ action: 'sponsor_added', sponsor_id: 'm2', actor: 'it-admin', time: T0 - 110 * MIN })];
    expect(run([...owned, ...backdoor('m2')])).toEqual([]);
  });

  it('takes a sponsor at high user risk as vouching for nothing', () => {
    const ctx = fakeContext();
    ctx.setUserRisk('t1', 's1', 'high');
    expect(run([...working(40), ...backdoor('s1')], ctx).map((d) => d.severity)).toEqual(['medium']);
  });

  it('completes the finding when the added credential use arrives after a later use of the own credential (out of order)', () => {
    const events = byTime([...working(40), ...backdoor('mallory', ELSEWHERE, 1)]);
    // The added credential's only use (T0 + 15.5 min) arrives 50 s late, after the own credential's use at T0 + 16 min.
    const i = events.findIndex((e) => e.type === 'signin' && e.credential_id === 'c-new');
    const [late] = events.splice(i, 1);
    const j = events.findIndex((e) => e.time > T0 + 16 * MIN);
    events.splice(j, 0, late!);
    const out = feed(createBackdoorCredentialDetector(), fakeContext(), events);
    expect(out).toHaveLength(1);
    expect(out[0]!.time).toBe(T0 + 15 * MIN + 30 * SEC);
  });

  it('fires when the addition arrives late, after the thief first use, and the own credential is used between them', () => {
    // Arrival order: the thief's first sign-in (T0 + 10 min + 20 s), the addition stamped T0 + 10 min (58 s late),
    // the agent's own sign-in at T0 + 11 min, then the thief's next sign-in at T0 + 12 min.
    const events: AgentEvent[] = [
      ...working(10),
      signin({ credential_id: 'c-new', ip: ELSEWHERE, time: T0 + 10 * MIN + 20 * SEC }),
      lifecycle({ action: 'credential_added', credential_id: 'c-new', actor: 'mallory', time: T0 + 10 * MIN }),
      signin({ credential_id: 'c-own', ip: HOME, time: T0 + 11 * MIN }),
      signin({ credential_id: 'c-new', ip: ELSEWHERE, time: T0 + 12 * MIN }),
      signin({ credential_id: 'c-own', ip: HOME, time: T0 + 40 * MIN }),
    ];
    const out = feed(createBackdoorCredentialDetector(), fakeContext(), events);
    // Found at the own credential's use right after (not at its next use, half an hour later).
    expect(out.map((d) => [d.severity, d.time])).toEqual([['medium', T0 + 11 * MIN]]);
    expect(out[0]!.evidence.observed).toMatchObject({ credential_id: 'c-new', first_use: T0 + 10 * MIN + 20 * SEC, added_by: 'mallory' });
    // A migration whose addition arrives late is still none: the own credential is not used after the new one.
    const migration = events.filter((e) => !(e.type === 'signin' && e.credential_id === 'c-own' && e.time > T0 + 10 * MIN));
    expect(feed(createBackdoorCredentialDetector(), fakeContext(), migration)).toEqual([]);
  });

  it('keeps its watch across a snapshot and restore', () => {
    const events = byTime([...working(40), ...backdoor('mallory')]);
    const split = events.findIndex((e) => e.time > T0 + 15 * MIN + 30 * SEC);
    const { uninterrupted, restored } = runWithRestore(() => createBackdoorCredentialDetector(), events, split);
    expect(uninterrupted.map((d) => d.severity)).toEqual(['medium']);
    expect(restored).toEqual(uninterrupted);
  });
});

describe('backdoor-credential sprees', () => {
  const add = (agent: string, actor: string, time: number) => lifecycle({ agent_id: agent, action: 'credential_added', actor, credential_id: `cred-${agent}-${time}`, time });
  /** The detector fed `events`, then the watermark moved to `until`. */
  const after = (events: AgentEvent[], until: number, d = createBackdoorCredentialDetector(), ctx = fakeContext()) => [...feed(d, ctx, byTime(events)), ...advanceTo(d, ctx, until)];

  it('reports each agent of a credential spree low 10 minutes on: one actor adding credentials to 4 or more agents within 10 minutes', () => {
    const spree = ['x1', 'x2', 'x3', 'x4', 'x5'].map((a, i) => add(a, 'admin7@contoso.com', T0 + i * MIN));
    expect(after(spree, T0 + 12 * MIN)).toEqual([]);
    const out = after(spree, T0 + 20 * MIN);
    expect(out.map((d) => [d.agent_id, d.severity])).toEqual([['x1', 'low'], ['x2', 'low'], ['x3', 'low'], ['x4', 'low'], ['x5', 'low']]);
    expect(out[0]!.time).toBe(T0 + 13 * MIN);
    expect(out[0]!.summary).toContain('admin7@contoso.com added credentials to 4 agents within 10 min');
    // Three agents, or four spread over an hour, are no spree.
    expect(after(spree.slice(0, 3), T0 + 2 * 60 * MIN)).toEqual([]);
    expect(after(['x1', 'x2', 'x3', 'x4'].map((a, i) => add(a, 'admin7@contoso.com', T0 + i * 20 * MIN)), T0 + 3 * 60 * MIN)).toEqual([]);
  });

  it('drops an agent that puts the new credential to use where it runs (a rotation in place), not one using it elsewhere', () => {
    const home = (agent: string, cred: string, ip: string, t: number) => signin({ agent_id: agent, credential_id: cred, ip, time: t });
    const events = [
      ...['x1', 'x2', 'x3', 'x4'].map((a) => home(a, `old-${a}`, '20.42.10.7', T0 - 10 * MIN)),
      ...['x1', 'x2', 'x3', 'x4'].map((a, i) => add(a, 'admin7@contoso.com', T0 + i * MIN)),
      home('x1', `cred-x1-${T0}`, '20.42.10.9', T0 + 6 * MIN),
      home('x2', `cred-x2-${T0 + MIN}`, '95.216.7.12', T0 + 7 * MIN),
    ];
    expect(after(events, T0 + 40 * MIN).map((d) => d.agent_id)).toEqual(['x2', 'x3', 'x4']);
  });

  it('drops an agent its sponsor created within the hour and gives its first credential (provisioning), not an older agent nor another actor\'s new agent', () => {
    const created = (agent: string, sponsor: string, actor: string, t: number) => lifecycle({ agent_id: agent, action: 'created', sponsor_id: sponsor, actor, time: t });
    const sponsor = 'ops-lead@contoso.com';
    const events = [
      ...['x1', 'x2', 'x3'].map((a, i) => created(a, sponsor, sponsor, T0 - 30 * MIN + i * MIN)),
      created('x4', sponsor, sponsor, T0 - 3 * 60 * MIN),
      created('x5', 'someone-else@contoso.com', 'someone-else@contoso.com', T0 - 20 * MIN),
      ...['x1', 'x2', 'x3', 'x4', 'x5'].map((a, i) => add(a, sponsor, T0 + i * MIN)),
    ];
    expect(after(events, T0 + 40 * MIN).map((d) => d.agent_id)).toEqual(['x4', 'x5']);
  });

  it('takes an actor whose sprees began 12 hours or more before for a rotation principal', () => {
    const d = createBackdoorCredentialDetector();
    const ctx = fakeContext();
    expect(after(['x1', 'x2', 'x3', 'x4'].map((a, i) => add(a, 'rotator', T0 + i * SEC)), T0 + HOUR, d, ctx)).toHaveLength(4);
    expect(after(['y1', 'y2', 'y3', 'y4'].map((a, i) => add(a, 'rotator', T0 + 13 * HOUR + i * SEC)), T0 + 14 * HOUR, d, ctx)).toEqual([]);
    // Its snapshot keeps what it knows, the findings waiting included.
    const events = [...['z1', 'z2', 'z3', 'z4', 'z5'].map((a, i) => add(a, 'admin7', T0 + i * MIN)), signin({ agent_id: 'w', time: T0 + HOUR })];
    const { uninterrupted, restored } = runWithRestore(() => createBackdoorCredentialDetector(), events, 5);
    expect(uninterrupted.map((x) => x.agent_id)).toEqual(['z1', 'z2', 'z3', 'z4', 'z5']);
    expect(restored).toEqual(uninterrupted);
  });
});

describe('backdoor-credential wipes', () => {
  const created = (agent: string, sponsor: string) => lifecycle({ agent_id: agent, action: 'created', actor: 'provisioner', sponsor_id: sponsor, time: T0 - DAY });
  const remove = (agent: string, actor: string, time: number) => lifecycle({ agent_id: agent, action: 'credential_removed', actor, credential_id: `cred-${agent}`, time });
  const add = (agent: string, actor: string, time: number) => lifecycle({ agent_id: agent, action: 'credential_added', actor, credential_id: `new-${agent}`, time });
  const AGENTS = ['w1', 'w2', 'w3', 'w4', 'w5', 'w6'];
  /** Their creation by a provisioner, with their sponsor (built per test: event ids restart in each). */
  const fleetOf = () => AGENTS.map((a) => created(a, 'owner@contoso.com'));

  it('reports each agent of one actor\'s credential removals from 4+ agents it does not sponsor within 10 min, none replaced, low at once', () => {
    const fleet = fleetOf();
    const wipe = AGENTS.map((a, i) => remove(a, 'app-admin@contoso.com', T0 + i * 20 * SEC));
    const out = run([...fleet, ...wipe]);
    expect(out.map((d) => [d.agent_id, d.severity, d.time])).toEqual([
      ['w1', 'low', T0 + 60 * SEC],
      ['w2', 'low', T0 + 60 * SEC],
      ['w3', 'low', T0 + 60 * SEC],
      ['w4', 'low', T0 + 60 * SEC],
      ['w5', 'low', T0 + 80 * SEC],
      ['w6', 'low', T0 + 100 * SEC],
    ]);
    expect(out[0]!.summary).toContain('app-admin@contoso.com, a sponsor of none of them, removed credentials from 4 agents within 10 min');
    expect(out[0]!.evidence).toMatchObject({ mitre: 'T1531 Account Access Removal' });
  });

  it('takes no removal for a wipe when it follows a replacement, comes from the agents\' sponsor, touches 3 agents, or comes from a rotation principal', () => {
    const fleet = fleetOf();
    // A rotation: new credentials added in the day before (one agent at a time: no spree of additions), the old ones removed now.
    expect(run([...fleet, ...AGENTS.map((a, i) => add(a, 'app-admin@contoso.com', T0 - 2 * HOUR - i * 30 * MIN)), ...AGENTS.map((a, i) => remove(a, 'app-admin@contoso.com', T0 + i * 20 * SEC))])).toEqual([]);
    // Their sponsor cleaning up; three agents.
    expect(run([...fleet, ...AGENTS.map((a, i) => remove(a, 'owner@contoso.com', T0 + i * 20 * SEC))])).toEqual([]);
    expect(run([...fleet, ...AGENTS.slice(0, 3).map((a, i) => remove(a, 'app-admin@contoso.com', T0 + i * 20 * SEC))])).toEqual([]);
    // An actor whose removal sprees began 12 hours or more before: nothing the second time.
    const d = createBackdoorCredentialDetector();
    const ctx = fakeContext();
    const first = feed(d, ctx, byTime([...fleet, ...AGENTS.slice(0, 4).map((a, i) => remove(a, 'rotator', T0 + i * SEC))]));
    expect(first).toHaveLength(4);
    const others = ['v1', 'v2', 'v3', 'v4'];
    expect(feed(d, ctx, byTime([...others.map((a) => created(a, 'owner@contoso.com')), ...others.map((a, i) => remove(a, 'rotator', T0 + 13 * HOUR + i * SEC))]))).toEqual([]);
  });

  it('keeps its wipes in its snapshot', () => {
    const fleet = fleetOf();
    const events = byTime([...fleet, ...AGENTS.map((a, i) => remove(a, 'app-admin@contoso.com', T0 + i * 20 * SEC))]);
    const { uninterrupted, restored } = runWithRestore(() => createBackdoorCredentialDetector(), events, events.length - 3);
    expect(uninterrupted.map((x) => x.agent_id)).toEqual(['w1', 'w2', 'w3', 'w4', 'w5', 'w6']);
    expect(restored).toEqual(uninterrupted);
  });
});
