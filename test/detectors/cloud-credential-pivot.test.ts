import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { cloudControlPlane, createCloudCredentialPivotDetector } from '../../detectors/cloud-credential-pivot.js';
import { HOUR, MIN, SEC, T0, fakeContext, feed, network, resetIds, runWithRestore, signin } from './helpers/context.js';

beforeEach(() => resetIds());

/** The Pacu-style first minutes with an AWS key: who am I, IAM, secrets, EC2, then the buckets. */
const PIVOT = [
  'sts.amazonaws.com',
  ...Array.from({ length: 6 }, () => 'iam.amazonaws.com'),
  'secretsmanager.sa-east-1.amazonaws.com',
  'secretsmanager.sa-east-1.amazonaws.com',
  'ec2.sa-east-1.amazonaws.com',
  's3.sa-east-1.amazonaws.com',
  'bank-dr-datalake.s3.sa-east-1.amazonaws.com',
  'bank-dr-datalake.s3.sa-east-1.amazonaws.com',
];

/** Calls of `agent` to `hosts` in order, one every `everyMs` from `from` (no token). */
function calls(agent: string, hosts: string[], from: number, everyMs = 15 * SEC, extra: Partial<AgentEvent> = {}): AgentEvent[] {
  return hosts.map((h, k) => network({ agent_id: agent, time: from + k * everyMs, dest_host: h, category: 'technology', bytes_out: 1200, bytes_in: 8000, event_id: `aws-${agent}-${from}-${k}`, ...extra } as never));
}

/** A sign-in hours before, so the agent is established. */
const born = (agent: string, at = T0 - 5 * HOUR, extra: Partial<AgentEvent> = {}) => signin({ agent_id: agent, time: at, ...extra } as never);

const run = (events: AgentEvent[]) => feed(createCloudCredentialPivotDetector(), fakeContext(), events.sort((x, y) => x.time - y.time));

describe('cloud-credential-pivot', () => {
  it("knows other clouds' control-plane services by host, and not their data planes", () => {
    expect(cloudControlPlane('iam.amazonaws.com')).toBe(1);
    expect(cloudControlPlane('secretsmanager.sa-east-1.amazonaws.com')).toBe(6);
    expect(cloudControlPlane('bank-dr.s3.sa-east-1.amazonaws.com')).toBe(cloudControlPlane('s3.amazonaws.com'));
    expect(cloudControlPlane('IAM.googleapis.com.')).toBe(32 + 1);
    expect(cloudControlPlane('ram.aliyuncs.com')).toBe(64 + 1);
    expect(cloudControlPlane('acme.oss-cn-hangzhou.aliyuncs.com')).toBeGreaterThan(64);
    expect(cloudControlPlane('identity.eu-frankfurt-1.oraclecloud.com')).toBe(96 + 1);
    for (const h of ['a1b2c3.execute-api.us-east-1.amazonaws.com', 'bedrock-runtime.us-east-1.amazonaws.com', 'fcm.googleapis.com', 'generativelanguage.googleapis.com', 'us-central1-aiplatform.googleapis.com', 'graph.microsoft.com', 'amazonaws.com', 'iam.amazonaws.com.evil.example'])
      expect(cloudControlPlane(h), h).toBe(0);
  });

  it('is medium for an established agent enumerating AWS identity, secrets and compute, where its blueprint never uses AWS', () => {
    const out = run([born('a1'), ...calls('a1', PIVOT, T0)]);
    expect(out.map((x) => [x.agent_id, x.severity, x.time])).toEqual([['a1', 'medium', T0 + 9 * 15 * SEC]]);
    expect(out[0]!.summary).toContain('AWS control-plane services (sts, iam, secretsmanager, ec2)');
    expect(out[0]!.evidence.observed).toMatchObject({ cloud: 'AWS', calls: 10 });
  });

  it('is low for an agent under an hour old (a new posture agent looks the same on its first run)', () => {
    expect(run([born('a1', T0 - 10 * MIN), ...calls('a1', PIVOT, T0)]).map((x) => x.severity)).toEqual(['low']);
  });

  it('stays quiet under the bars: 9 calls, 2 services, or no identity or secrets service', () => {
    expect(run([born('a1'), ...calls('a1', PIVOT.slice(0, 9), T0)])).toEqual([]);
    expect(run([born('a1'), ...calls('a1', [...Array.from({ length: 8 }, () => 'iam.amazonaws.com'), 'sts.amazonaws.com', 'sts.amazonaws.com'], T0)])).toEqual([]);
    const dataOnly = [...Array.from({ length: 6 }, () => 'ec2.us-east-1.amazonaws.com'), 's3.amazonaws.com', 'x.s3.amazonaws.com', 'lambda.us-east-1.amazonaws.com', 'rds.us-east-1.amazonaws.com'];
    expect(run([born('a1'), ...calls('a1', dataOnly, T0)])).toEqual([]);
    // Spread over an hour and a half: no enumeration.
    expect(run([born('a1'), ...calls('a1', PIVOT, T0, 8 * MIN)])).toEqual([]);
  });

  it('stays quiet where the blueprint uses the cloud (two agents, or for an hour); another blueprint does not vouch', () => {
    const deploy = (agent: string, at: number, bp = 'bp1') => calls(agent, ['sts.sa-east-1.amazonaws.com', 'eks.sa-east-1.amazonaws.com'], at, 15 * SEC, { blueprint_id: bp });
    expect(run([born('a1'), ...deploy('d1', T0 - 2 * HOUR), ...deploy('d2', T0 - 2 * HOUR + MIN), ...calls('a1', PIVOT, T0)])).toEqual([]);
    expect(run([born('a1'), ...deploy('d1', T0 - 2 * HOUR), ...deploy('d1', T0 - 30 * MIN), ...calls('a1', PIVOT, T0)])).toEqual([]);
    const other = [...deploy('o1', T0 - 2 * HOUR, 'bp-devops'), ...deploy('o2', T0 - 2 * HOUR, 'bp-devops')];
    expect(run([born('a1'), ...other, ...calls('a1', PIVOT, T0)]).map((x) => x.agent_id)).toEqual(['a1']);
  });

  it('reports once an hour, and learns nothing from a reported agent', () => {
    expect(run([born('a1'), ...calls('a1', PIVOT, T0), ...calls('a1', PIVOT, T0 + 10 * MIN)])).toHaveLength(1);
    const out = run([born('a1'), born('a2'), ...calls('a1', PIVOT, T0), ...calls('a1', PIVOT, T0 + 30 * MIN), ...calls('a2', PIVOT, T0 + 2 * HOUR)]);
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([
      ['a1', 'medium'],
      ['a2', 'medium'],
    ]);
  });

  it('judges Google Cloud the same way', () => {
    const gcp = ['sts.googleapis.com', 'iamcredentials.googleapis.com', ...Array.from({ length: 4 }, () => 'cloudresourcemanager.googleapis.com'), 'secretmanager.googleapis.com', 'compute.googleapis.com', 'storage.googleapis.com', 'storage.googleapis.com'];
    const out = run([born('a1'), ...calls('a1', gcp, T0)]);
    expect(out.map((x) => [x.severity, (x.evidence.observed as { cloud: string }).cloud])).toEqual([['medium', 'Google Cloud']]);
  });

  it('survives a snapshot and restore', () => {
    const events = [born('a1'), ...calls('a1', PIVOT, T0)];
    const { uninterrupted, restored } = runWithRestore(() => createCloudCredentialPivotDetector(), events, 4);
    expect(uninterrupted).toHaveLength(1);
    expect(restored).toEqual(uninterrupted);
  });
});
