import { describe, expect, it } from 'vitest';
import { categoryInfo, categoryKey, isFileSharingCategory, isMaliciousCategory, isPhishingCategory, isSuspiciousCategory } from '../../detectors/categories.js';

describe('categories', () => {
  it('compares categories in one form whatever the spelling', () => {
    expect(categoryKey('Command-and-Control')).toBe('command_and_control');
    expect(categoryKey(' File Sharing ')).toBe('file_sharing');
    expect(categoryKey('Command & Control')).toBe('command_and_control');
    expect(categoryKey('file_sharing')).toBe('file_sharing');
  });

  it('knows hostile categories, and only those', () => {
    for (const c of ['malicious', 'Malware', 'command_and_control', 'C2', 'botnets', 'Spyware', 'cryptojacking', 'Compromised Sites', 'Ransomware', 'exploit-kits', 'Keyloggers & Monitoring']) expect(isMaliciousCategory(c), c).toBe(true);
    for (const c of ['api', 'llm_provider', 'file_sharing', 'uncategorized', 'storage', 'agent', 'phishing', '']) expect(isMaliciousCategory(c), c).toBe(false);
  });

  it('knows the hostile names of other vendors, and each part of a joined category', () => {
    for (const c of ['Malicious Websites', 'Botnet Callback', 'Malicious Content', 'Spyware/Adware', 'adware / Spyware']) expect(isMaliciousCategory(c), c).toBe(true);
    for (const c of ['Web Search/Portals', 'news/media', '/', 'Phishing & Fraud']) expect(isMaliciousCategory(c), c).toBe(false);
  });

  it('tells model providers in any vendor spelling', () => {
    for (const c of ['llm_provider', 'Generative AI', 'AI/ML', 'Artificial Intelligence']) expect(categoryInfo(c).modelProvider, c).toBe(true);
    for (const c of ['api', 'storage', 'agent', 'search_engines']) expect(categoryInfo(c).modelProvider, c).toBe(false);
  });

  it('tells phishing and file-sharing categories in any vendor spelling', () => {
    for (const c of ['phishing', 'Phishing & Fraud', 'Phishing and Other Frauds']) expect(isPhishingCategory(c), c).toBe(true);
    for (const c of ['malicious', 'file_sharing', 'api']) expect(isPhishingCategory(c), c).toBe(false);
    for (const c of ['file_sharing', 'Online Storage and Backup', 'online-storage-and-backup', 'File Transfer', 'Personal Network Storage and Backup', 'P2P'])
      expect(isFileSharingCategory(c), c).toBe(true);
    // A company's own cloud storage is not a drop site by its category.
    for (const c of ['storage', 'api', 'uncategorized']) expect(isFileSharingCategory(c), c).toBe(false);
  });

  it('tells categories where fresh attacker infrastructure sits, and not verdicts or ordinary ones', () => {
    for (const c of ['Newly Registered Domains', 'newly-registered-domain', 'Newly Observed Domain', 'Dynamic DNS', 'dynamic-dns', 'Proxy Avoidance and Anonymizers', 'Anonymizer', 'grayware', 'Parked Domains', 'Tor'])
      expect(isSuspiciousCategory(c), c).toBe(true);
    for (const c of ['malicious', 'phishing', 'file_sharing', 'uncategorized', 'api', 'llm_provider', 'Web Search/Portals']) expect(isSuspiciousCategory(c), c).toBe(false);
  });
});
