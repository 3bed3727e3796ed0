import { describe, expect, it } from 'vitest';
import { SHARED_NAMESPACES, isGovernmentHost, registrableDomain, sameOwnedDomain } from '../../detectors/domains.js';

describe('domains', () => {
  it('finds the registrable domain by the Public Suffix List, private suffixes included', () => {
    expect(registrableDomain('tickets.contoso.com')).toBe('contoso.com');
    expect(registrableDomain('api.contoso.co.uk')).toBe('contoso.co.uk');
    expect(registrableDomain('contosobackup.blob.core.windows.net')).toBe('contosobackup.blob.core.windows.net');
    expect(registrableDomain('x.github.io')).toBe('x.github.io');
    expect(registrableDomain('co.uk')).toBeNull();
    // Case and a trailing dot do not matter; an address has none.
    expect(registrableDomain('4f1c.x7.t.CDN-sync1a2.net.')).toBe('cdn-sync1a2.net');
    expect(registrableDomain('10.1.2.3')).toBeNull();
  });

  it('names the domain two hosts share when only its owner creates names in it', () => {
    expect(sameOwnedDomain('ticket.contoso.com', 'tickets.contoso.com')).toBe('contoso.com');
    expect(sameOwnedDomain('ticket.eu.contoso.co.uk', 'tickets.eu.contoso.co.uk')).toBe('contoso.co.uk');
    // Another registrable domain: anyone's to register.
    expect(sameOwnedDomain('tickets.c0ntoso.com', 'tickets.contoso.com')).toBeNull();
    expect(sameOwnedDomain('api.open-ai.com', 'api.openai.com')).toBeNull();
    // A suffix of the list (storage accounts) or a shared namespace: every customer names hosts there.
    expect(sameOwnedDomain('contos0backup.blob.core.windows.net', 'contosobackup.blob.core.windows.net')).toBeNull();
    expect(sameOwnedDomain('l1tware-aoai.openai.azure.com', 'litware-aoai.openai.azure.com')).toBeNull();
    expect(sameOwnedDomain('c0ntoso.sharepoint.com', 'contoso.sharepoint.com')).toBeNull();
    expect(SHARED_NAMESPACES.has('atlassian.net')).toBe(true);
  });

  it('knows a government host by the names only agencies register', () => {
    for (const h of ['jefs.usdoj.gov', 'efile.IRS.GOV.', 'www.disa.mil', 'online.ato.gov.au', 'portal.sat.gob.mx', 'impots.gouv.fr', 'www.nta.go.jp', 'ird.govt.nz', 'sedex.admin.ch', 'ec.europa.eu', 'secure.cra-arc.gc.ca'])
      expect(isGovernmentHost(h), h).toBe(true);
    // Lookalikes of those labels anywhere else are anyone's: a .com, a lower label, a bare suffix.
    for (const h of ['gov.example.com', 'irs-gov.com', 'go.com', 'gov.uk', 'upload.gov-files.net', 'admin.example.ch', 'localhost'])
      expect(isGovernmentHost(h), h).toBe(false);
  });
});
