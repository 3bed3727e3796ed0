import { describe, expect, it } from 'vitest';
import { ipv6Site, isIpv6, isPrivateAddress, isSecurityEdgeAddress, sameSubnet, subnetKey, subnetOf, wideNetworkOf } from '../../detectors/addresses.js';

describe('addresses', () => {
  it('tells subnets apart: one /24 for IPv4, one /48 for IPv6', () => {
    expect(sameSubnet('20.0.0.1', '20.0.0.200')).toBe(true);
    expect(sameSubnet('20.0.0.1', '20.0.1.1')).toBe(false);
    expect(sameSubnet('120.0.0.1', '20.0.0.1')).toBe(false);
    expect(sameSubnet('2001:db8:1:2::1', '2001:db8:1:ffff::9')).toBe(true);
    expect(sameSubnet('2001:db8:1::1', '2001:db8:2::1')).toBe(false);
    expect(sameSubnet('2001:db8:1::1', '20.0.0.1')).toBe(false);
  });

  it('keys an address by the network sameSubnet compares: equal keys exactly for addresses in one subnet', () => {
    expect(subnetKey('20.0.0.1')).toBe('20.0.0');
    expect(subnetKey('2001:DB8:1:2::1')).toBe('2001:db8:1::/48');
    const ips = ['20.0.0.1', '20.0.0.200', '20.0.1.1', '120.0.0.1', '2001:db8:1:2::1', '2001:db8:1:ffff::9', '2001:db8:2::1'];
    for (const a of ips) for (const b of ips) expect(subnetKey(a) === subnetKey(b), `${a} ${b}`).toBe(sameSubnet(a, b));
  });

  it('names the /48 of an IPv6 address canonically, and keeps what does not parse as it is', () => {
    expect(ipv6Site('2001:DB8:7:ffff:1:2:3:4')).toBe('2001:db8:7::/48');
    expect(ipv6Site('2001::1:2:3:4:5:6')).toBe('2001:0:1::/48');
    expect(ipv6Site('::ffff:198.51.100.7')).toBe('::ffff:198.51.100.7');
    expect(ipv6Site('not:an:address')).toBe('not:an:address');
  });
  it('tells private network addresses from public ones', () => {
    for (const ip of ['10.20.1.129', '172.16.0.4', '172.31.255.1', '192.168.1.10', '100.64.3.2', '169.254.169.254', 'fd12:3456:789a::1', 'fc00::5', 'FE80::1ff:fe23:4567:890a'])
      expect(isPrivateAddress(ip), ip).toBe(true);
    for (const ip of ['20.42.10.7', '172.32.0.1', '172.15.9.9', '192.169.0.1', '100.128.0.1', '11.0.0.1', '2603:1030:20c:19::4f', 'fe00::1', '::ffff:10.0.0.1', 'not-an-ip', '1000.0.0.1', '192.168', '10x.example', 'storage.example', '17.16.0.1', '1.168.0.1'])
      expect(isPrivateAddress(ip), ip).toBe(false);
  });
  it('computes /24 and /64 subnets, and /16 and /48 networks', () => {
    expect(subnetOf('20.1.2.3')).toBe('20.1.2');
    expect(subnetOf('::ffff:20.1.2.3')).toBe('20.1.2');
    expect(subnetOf('2001:db8:1:2::5')).toBe(subnetOf('2001:0db8:0001:0002:ffff::1'));
    expect(subnetOf('2001:db8:1:2::5')).not.toBe(subnetOf('2001:db8:1:3::5'));
    expect(subnetOf('::1')).toBe('0:0:0:0::/64');
    expect(subnetOf('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(wideNetworkOf('20.1.200.7')).toBe('20.1');
    expect(wideNetworkOf('2001:db8:77:1::5')).toBe('2001:db8:77::/48');
    expect(wideNetworkOf('::ffff:20.1.2.3')).toBe('20.1');
    expect(isIpv6('2001:db8::1')).toBe(true);
    expect(isIpv6('::ffff:20.1.2.3')).toBe(false);
    expect(isIpv6('20.1.2.3')).toBe(false);
  });
  it('knows the egress ranges of cloud security edges (Zscaler, Netskope, Umbrella, Cloudflare Gateway)', () => {
    for (const ip of ['165.225.80.21', '165.225.127.255', '136.226.5.9', '147.161.200.1', '185.46.215.3', '104.129.200.8', '163.116.130.4', '146.112.61.106', '104.28.14.9'])
      expect(isSecurityEdgeAddress(ip), ip).toBe(true);
    for (const ip of ['165.225.128.1', '147.161.127.255', '185.46.216.1', '104.129.208.1', '20.42.10.7', '10.0.0.1', '2606:4700::1', '1.1.1.1', 'not-an-ip', '165.225.80'])
      expect(isSecurityEdgeAddress(ip), ip).toBe(false);
  });
});
