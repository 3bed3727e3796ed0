// docs/clickhouse-users.sql grants the migrator what the migrations need, and
// no user more than the docs say: every statement of every migration is
// classified by the privilege it needs on a ClickHouse server, and the
// migrator's GRANT must hold each of them. A new kind of statement fails
// here until it is classified (and granted, if it should be).

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../store/migrations.js';

const SQL = fs.readFileSync(path.resolve(import.meta.dirname, '../../docs/clickhouse-users.sql'), 'utf8');

/** Privileges named in `GRANT ... ON riskstream.* TO <user>`. */
function grantsOf(user: string): Set<string> {
  const m = new RegExp(`GRANT\\s+([^;]+?)\\s+ON\\s+riskstream\\.\\*\\s+TO\\s+${user}\\s*;`, 'i').exec(SQL);
  if (!m) throw new Error(`no GRANT for ${user} in docs/clickhouse-users.sql`);
  return new Set(m[1]!.split(',').map((p) => p.trim().toUpperCase().replace(/\s+/g, ' ')));
}

/** The privileges a migration statement needs. */
function needs(statement: string): string[] {
  const s = statement.trim().replace(/\s+/g, ' ');
  if (/^CREATE TABLE /i.test(s)) return ['CREATE TABLE'];
  if (/^CREATE (MATERIALIZED )?VIEW /i.test(s)) return ['CREATE VIEW'];
  if (/^DROP VIEW /i.test(s)) return ['DROP VIEW'];
  if (/^ALTER TABLE \S+ ADD COLUMN /i.test(s)) return ['ALTER ADD COLUMN'];
  if (/^ALTER TABLE \S+ ADD INDEX /i.test(s)) return ['ALTER ADD INDEX'];
  if (/^INSERT INTO \S+ (\([^)]*\) )?SELECT /i.test(s)) return ['INSERT', 'SELECT'];
  throw new Error(`unclassified migration statement: ${s.slice(0, 80)}`);
}

describe('docs/clickhouse-users.sql', () => {
  it('grants the migrator every privilege the migrations need', () => {
    const granted = grantsOf('riskstream_migrator');
    for (const m of MIGRATIONS) {
      for (const statement of m.statements) {
        for (const p of needs(statement)) expect(granted.has(p), `migration ${m.version} needs ${p}`).toBe(true);
      }
    }
  });

  it('lets no user rewrite or remove rows, and the pipeline and analysts only read and append', () => {
    for (const user of ['riskstream_migrator', 'riskstream_pipeline', 'riskstream_analyst']) {
      for (const p of grantsOf(user)) expect(p, user).not.toMatch(/UPDATE|DELETE|TRUNCATE|OPTIMIZE|DROP TABLE|^DROP$|^ALL|ALTER$/);
    }
    expect([...grantsOf('riskstream_pipeline')].sort()).toEqual(['INSERT', 'SELECT']);
    expect([...grantsOf('riskstream_analyst')]).toEqual(['SELECT']);
  });
});
