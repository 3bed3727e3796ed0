import { describe, expect, it } from 'vitest';
import { categoryKey, isMaliciousCategory } from '../../detectors/categories.js';

describe('categories', () => {
  it('compares categories in one form whatever the spelling', () => {
    expect(categoryKey('Command-and-Control')).toBe('command_and_control');
    expect(categoryKey(' File Sharing ')).toBe('file_sharing');
    expect(categoryKey('Command & Control')).toBe('command_and_control');
    expect(categoryKey('file_sharing')).toBe('file_sharing');
  });

  it('knows hostile categories, and only those', () => {
    for (const c of ['malicious', 'Malware', 'command_and_control', 'C2', 'botnets', 'Spyware', 'cryptojacking', 'Compromised Sites']) expect(isMaliciousCategory(c), c).toBe(true);
    for (const c of ['api', 'llm_provider', 'file_sharing', 'uncategorized', 'storage', 'agent', 'phishing', '']) expect(isMaliciousCategory(c), c).toBe(false);
  });
});
