// The ledger is append-only: no code path (anything outside test/) contains a
// statement that rewrites or removes rows of a ledger table. Table names built
// at run time (`${...}`) count as ledger tables.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SKIP_DIRS = new Set(['node_modules', 'dist', 'test', '.git', '.cache', 'data', 'coverage']);
const LEDGER_TABLES = [
  'events',
  'detections',
  'risk_changes',
  'admin_actions',
  'ledger_chain',
  'webhook_deliveries',
  'agent_hourly_stats',
  'webhook_registrations',
  'ssf_streams',
  'ssf_queue',
  'webhook_queue',
];

const name = `[\`"]?(?:\\w+\\.)?[\`"]?(?:${LEDGER_TABLES.join('|')}|\\$\\{[^}]+\\})[\`"]?`;
const onCluster = `(?:\\s+ON\\s+CLUSTER\\s+\\S+)?`;
const FORBIDDEN: [string, RegExp][] = [
  [
    'ALTER TABLE ... UPDATE/DELETE/DROP PARTITION...',
    new RegExp(
      `ALTER\\s+TABLE\\s+(?:IF\\s+EXISTS\\s+)?${name}${onCluster}\\s+(?:UPDATE|DELETE|DROP\\s+(?:PARTITION|PART|COLUMN)|CLEAR\\s+COLUMN|REPLACE\\s+PARTITION|MOVE\\s+PARTITION|MODIFY\\s+TTL|MATERIALIZE\\s+TTL|APPLY\\s+DELETED\\s+MASK)\\b`,
      'i',
    ),
  ],
  ['DELETE FROM', new RegExp(`DELETE\\s+FROM\\s+${name}`, 'i')],
  ['UPDATE ... SET', new RegExp(`\\bUPDATE\\s+${name}\\s+SET\\b`, 'i')],
  ['TRUNCATE', new RegExp(`TRUNCATE\\s+(?:TABLE\\s+)?(?:IF\\s+EXISTS\\s+)?${name}`, 'i')],
  ['DROP TABLE', new RegExp(`DROP\\s+(?:TEMPORARY\\s+)?TABLE\\s+(?:IF\\s+EXISTS\\s+)?${name}`, 'i')],
  ['RENAME/EXCHANGE', new RegExp(`(?:RENAME\\s+TABLE|EXCHANGE\\s+TABLES)\\s+${name}`, 'i')],
  ['OPTIMIZE ... DEDUPLICATE', new RegExp(`OPTIMIZE\\s+TABLE\\s+${name}[^;\`'"]*DEDUPLICATE`, 'i')],
];

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') && entry.name !== '.') continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) sourceFiles(full, out);
    } else if (/\.(ts|js|mjs|cjs|sql)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) {
      out.push(full);
    }
  }
  return out;
}

function violations(text: string): string[] {
  return FORBIDDEN.filter(([, re]) => re.test(text)).map(([label]) => label);
}

describe('append-only ledger', () => {
  it('the checks recognise every forbidden form', () => {
    const bad = [
      "ALTER TABLE events UPDATE raw = '' WHERE 1",
      'alter table riskstream.detections delete where 1',
      'ALTER TABLE `risk_changes` ON CLUSTER c DELETE WHERE 1',
      'ALTER TABLE ${table} UPDATE x = 1 WHERE 1',
      'ALTER TABLE ledger_chain DROP PARTITION 202501',
      'DELETE FROM admin_actions WHERE 1',
      "UPDATE events SET raw = '' WHERE 1",
      'TRUNCATE TABLE events',
      'DROP TABLE IF EXISTS webhook_deliveries',
      'OPTIMIZE TABLE events FINAL DEDUPLICATE',
    ];
    for (const sql of bad) expect(violations(sql), sql).not.toEqual([]);
    const fine = [
      'ALTER TABLE events ADD COLUMN IF NOT EXISTS batch_token String',
      'ALTER TABLE events ADD INDEX IF NOT EXISTS idx x TYPE bloom_filter',
      'INSERT INTO events SETTINGS async_insert = 0 FORMAT TabSeparated',
      '// no ALTER ... DELETE / UPDATE, no TRUNCATE, no DROP of ledger tables',
    ];
    for (const sql of fine) expect(violations(sql), sql).toEqual([]);
  });

  it('no source file outside test/ rewrites or removes ledger rows', () => {
    const files = sourceFiles(ROOT);
    expect(files.length).toBeGreaterThan(20);
    expect(files.some((f) => f.endsWith(path.join('store', 'ledger-writer.ts')))).toBe(true);
    const found: string[] = [];
    for (const file of files) {
      const hits = violations(fs.readFileSync(file, 'utf8'));
      if (hits.length > 0) found.push(`${path.relative(ROOT, file)}: ${hits.join(', ')}`);
    }
    expect(found).toEqual([]);
  });
});
