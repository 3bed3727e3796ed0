// A restarted pipeline carries on from the store (real embedded ClickHouse):
// each agent's latest risk change seeds the risk engine, each user's latest
// user-risk level seeds inherited risk.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import type { AgentEvent } from '../../contract/events.js';
import { DetectionPipeline } from '../../detectors/pipeline.js';
import type { RiskChange } from '../../detectors/types.js';
import { LedgerWriter } from '../../store/ledger-writer.js';
import { seedDetection } from '../../cli/app.js';
import { openMigrated } from '../store/helpers.js';
import { userRisk } from '../store/samples.js';

const T0 = Date.UTC(2026, 10, 20, 9, 0, 0);

function change(agent: string, time: number, seq: number, o: Partial<RiskChange>): RiskChange {
  return {
    tenant_id: 'tenant-seed',
    agent_id: agent,
    time,
    level: 'high',
    previous_level: 'none',
    score: 0.9,
    state: 'atRisk',
    reasons: [{ detector: 'token-replay', severity: 'high', summary: 'token replayed' }],
    change_id: `tenant-seed/${agent}/${time}/${seq}`,
    ...o,
  };
}

describe('seedDetection', () => {
  let store: ClickHouseClient;
  beforeAll(async () => {
    store = await openMigrated('cli_seed');
  });
  afterAll(async () => {
    await store.close();
  });

  it('starts the engine from each agent\'s latest change and users from their latest risk', async () => {
    const writer = new LedgerWriter(store);
    await writer.writeBatch({
      token: 'seed:changes',
      riskChanges: [
        change('hot', T0, 1, { level: 'medium', score: 0.6 }),
        change('hot', T0 + 1000, 2, { previous_level: 'medium' }),
        change('pwned', T0, 1, { state: 'confirmedCompromised', score: 1, reasons: [{ detector: 'admin', severity: 'high', summary: 'confirmed compromised by soc' }] }),
        change('calm', T0, 1, { level: 'low', score: 0.3 }),
        change('calm', T0 + 5000, 2, { level: 'none', previous_level: 'low', score: 0.05, state: 'none', reasons: [] }),
      ],
    });
    const users: AgentEvent[] = [
      { ...userRisk, tenant_id: 'tenant-seed', event_id: 'ur-1', user_id: 'alice', level: 'high', time: T0 },
      { ...userRisk, tenant_id: 'tenant-seed', event_id: 'ur-2', user_id: 'bob', level: 'high', time: T0 },
      { ...userRisk, tenant_id: 'tenant-seed', event_id: 'ur-3', user_id: 'bob', level: 'none', time: T0 + 1000 },
    ] as AgentEvent[];
    await writer.writeBatch({ token: 'seed:users', events: users.map((event, i) => ({ event, source: 'test:seed', offset: i })) });

    const detection = new DetectionPipeline();
    const seeded = await seedDetection(detection, store);
    expect(seeded).toEqual({ agents: 2, users: 1 });
    expect(detection.risk('tenant-seed', 'hot')).toMatchObject({ level: 'high', score: 0.9, updated_at: T0 + 1000 });
    expect(detection.risk('tenant-seed', 'pwned')).toMatchObject({ level: 'high', state: 'confirmedCompromised' });
    expect(detection.risk('tenant-seed', 'calm')).toBeUndefined();
    expect(detection.userRisk('tenant-seed', 'alice')).toBe('high');
    expect(detection.userRisk('tenant-seed', 'bob')).toBe('none');
  });
});
