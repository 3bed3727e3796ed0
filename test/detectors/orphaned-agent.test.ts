import { beforeEach, describe, expect, it } from 'vitest';
import { createOrphanedAgentDetector } from '../../detectors/orphaned-agent.js';
import { MIN, SEC, T0, lifecycle, resetIds, run, signin, snapshotRoundTrip } from './core-helpers.js';

beforeEach(() => resetIds());

const det = () => [createOrphanedAgentDetector()];

describe('orphaned-agent', () => {
  it('fires (low) when the last sponsor is removed and none is added within the grace period', () => {
    const events = [
      lifecycle({ action: 'created', sponsor_id: 'alice', time: T0 }),
      lifecycle({ action: 'sponsor_removed', sponsor_id: 'alice', actor: 'bob', time: T0 + MIN, event_id: 'rm' }),
      signin({ time: T0 + 5 * MIN }), // moves the watermark past the grace period
    ];
    const { detections } = run(det(), events, {}, false);
    expect(detections).toHaveLength(1);
    const d = detections[0]!;
    expect(d.detector).toBe('orphaned-agent');
    expect(d.severity).toBe('low');
    expect(d.time).toBe(T0 + 3 * MIN);
    expect(d.event_ids).toEqual(['rm']);
    expect(d.evidence.observed).toMatchObject({ sponsors: 0, reason: 'last_sponsor_removed' });
    expect(d.summary).toContain('bob');
  });

  it('fires when an agent is created without a sponsor and still has none after the grace period', () => {
    const { detections } = run(det(), [lifecycle({ action: 'created', time: T0 }), signin({ agent_id: 'other', time: T0 + 4 * MIN })], {}, false);
    expect(detections.map((d) => d.evidence.observed)).toMatchObject([{ reason: 'created_without_sponsor' }]);
  });

  it('does not fire when a sponsor is added in time, when another sponsor remains, or when the agent is deleted', () => {
    const events = [
      lifecycle({ agent_id: 'x1', action: 'created', time: T0 }),
      lifecycle({ agent_id: 'x1', action: 'sponsor_added', sponsor_id: 'alice', time: T0 + 90 * SEC }),
      lifecycle({ agent_id: 'x2', action: 'created', sponsor_id: 'alice', time: T0 }),
      lifecycle({ agent_id: 'x2', action: 'sponsor_added', sponsor_id: 'bob', time: T0 }),
      lifecycle({ agent_id: 'x2', action: 'sponsor_removed', sponsor_id: 'alice', time: T0 + MIN }),
      lifecycle({ agent_id: 'x3', action: 'created', time: T0 }),
      lifecycle({ agent_id: 'x3', action: 'deleted', time: T0 + MIN }),
      signin({ agent_id: 'other', time: T0 + 30 * MIN }),
    ];
    expect(run(det(), events).detections).toHaveLength(0);
  });

  it('waits for the watermark: nothing fires before the grace period has passed in event time', () => {
    const r = run(det(), [lifecycle({ action: 'created', time: T0 }), signin({ agent_id: 'other', time: T0 + 2 * MIN + 50 * SEC })], {}, false);
    expect(r.detections).toHaveLength(0);
  });

  it('restores a snapshot and gives the same detections as the uninterrupted detector', () => {
    const events = [
      lifecycle({ agent_id: 'x1', action: 'created', time: T0 }),
      lifecycle({ agent_id: 'x2', action: 'created', sponsor_id: 'alice', time: T0 }),
      lifecycle({ agent_id: 'x2', action: 'sponsor_removed', sponsor_id: 'alice', time: T0 + MIN }),
      signin({ agent_id: 'other', time: T0 + 20 * MIN }),
    ];
    const { uninterrupted, restored } = snapshotRoundTrip(createOrphanedAgentDetector, events, 3);
    expect(uninterrupted).toHaveLength(2);
    expect(restored).toEqual(uninterrupted);
  });

  it('removes a sponsor whatever the case of its id, and takes an unnamed removal as the removal of the only sponsor', () => {
    const events = [
      lifecycle({ agent_id: 'x1', action: 'created', sponsor_id: 'alice@contoso.com', time: T0 }),
      lifecycle({ agent_id: 'x1', action: 'sponsor_removed', sponsor_id: 'Alice@Contoso.com', time: T0 + MIN }),
      lifecycle({ agent_id: 'x2', action: 'created', sponsor_id: 'bob', time: T0 }),
      lifecycle({ agent_id: 'x2', action: 'sponsor_removed', sponsor_id: null, time: T0 + MIN }),
      // Two sponsors and an unnamed removal: which one left is unknown, so the agent is not taken as orphaned.
      lifecycle({ agent_id: 'x3', action: 'created', sponsor_id: 'carol', time: T0 }),
      lifecycle({ agent_id: 'x3', action: 'sponsor_added', sponsor_id: 'dave', time: T0 }),
      lifecycle({ agent_id: 'x3', action: 'sponsor_removed', sponsor_id: null, time: T0 + MIN }),
      signin({ agent_id: 'other', time: T0 + 5 * MIN }),
    ];
    const { detections, pipeline } = run(det(), events, {}, false);
    expect(detections.map((d) => d.agent_id).sort()).toEqual(['x1', 'x2']);
    expect(pipeline.directory.get('t1', 'x3')!.sponsors).toEqual(['carol', 'dave']);
  });
});
