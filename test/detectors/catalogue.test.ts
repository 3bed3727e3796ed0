import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DETECTOR_IDS, catalogueMeta, createCatalogue } from '../../detectors/catalogue.js';

/** The rows of the catalogue table in docs/detections.md, cells trimmed. */
function documentedRows(): string[][] {
  const doc = readFileSync(new URL('../../docs/detections.md', import.meta.url), 'utf8');
  return doc
    .split('\n')
    .filter((line) => /^\| \d+ \| `/.test(line))
    .map((line) => line.slice(1, -1).split(' | ').map((cell) => cell.trim()));
}

describe('detector catalogue', () => {
  it('has one detector per id, each with its metadata', () => {
    const detectors = createCatalogue();
    expect(detectors.map((d) => d.meta.id)).toEqual([...DETECTOR_IDS]);
    for (const m of catalogueMeta()) {
      expect(m.title.length, m.id).toBeGreaterThan(5);
      expect(['low', 'medium', 'high'], m.id).toContain(m.severity);
      expect(m.description.length, m.id).toBeGreaterThan(80);
      if (m.mitre) expect(m.mitre.id, m.id).toMatch(/^T\d{4}(\.\d{3})?$/);
    }
  });

  it('is documented in docs/detections.md exactly as its metadata says', () => {
    const expected = catalogueMeta().map((m, i) => [
      String(i + 1),
      '`' + m.id + '`',
      m.title,
      m.severity,
      m.mitre ? `${m.mitre.id} ${m.mitre.name}` : '—',
      m.description,
    ]);
    expect(documentedRows()).toEqual(expected);
  });
});
