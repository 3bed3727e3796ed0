import { describe, expect, it } from 'vitest';
import { ipv6Site, sameSubnet } from '../../detectors/addresses.js';

describe('addresses', () => {
  it('tells subnets apart: one /24 for IPv4, one /48 for IPv6', () => {
    expect(sameSubnet('20.0.0.1', '20.0.0.200')).toBe(true);
    expect(sameSubnet('20.0.0.1', '20.0.1.1')).toBe(false);
    expect(sameSubnet('120.0.0.1', '20.0.0.1')).toBe(false);
    expect(sameSubnet('2001:db8:1:2::1', '2001:db8:1:ffff::9')).toBe(true);
    expect(sameSubnet('2001:db8:1::1', '2001:db8:2::1')).toBe(false);
    expect(sameSubnet('2001:db8:1::1', '20.0.0.1')).toBe(false);
  });

  it('names the /48 of an IPv6 address canonically, and keeps what does not parse as it is', () => {
    expect(ipv6Site('2001:DB8:7:ffff:1:2:3:4')).toBe('2001:db8:7::/48');
    expect(ipv6Site('2001::1:2:3:4:5:6')).toBe('2001:0:1::/48');
    expect(ipv6Site('::ffff:198.51.100.7')).toBe('::ffff:198.51.100.7');
    expect(ipv6Site('not:an:address')).toBe('not:an:address');
  });
});
