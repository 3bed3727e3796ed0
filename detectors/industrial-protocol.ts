// Detector 34 — industrial-protocol: an agent's runtime speaks industrial
// control protocols to plant devices, where its blueprint never does (ATT&CK
// for ICS T0846 Remote System Discovery; T0855 Unauthorized Command Message).
//
// An IT agent reaching into the plant network (through the ExpressRoute or
// VPN that links a converged factory to the cloud) sweeps controllers on
// Modbus/TCP (502), Siemens S7comm (102), EtherNet/IP (44818), DNP3
// (20000), BACnet (47808), OPC UA (4840), IEC 60870-5-104 (2404),
// Profinet (34962-34964) or a fab's SECS/GEM over HSMS (5000-5010, to a
// private address), or over plain HTTP to the web HMIs of hosts named
// as the plant's (hmi-*, plc*, *.ot.*), then writes to a few: the IT-to-OT pivot of a
// sabotage or ransomware crew. An agent that works with the plant speaks
// these protocols every day (a telemetry blueprint polling its PLCs); one
// that never did, and now reaches several controllers within minutes or
// sends them a stream of requests, is not at work.
//
// Rule: flows of an agent to industrial ports reaching 5 distinct hosts, or
// 20 flows, within 10 minutes, where its blueprint does not speak them (2 of
// its agents, or its agents for an hour) → medium, once per agent an hour.
//
// The engine (state, learning, the finding) is port-sweep.ts, shared with
// mainframe-access. The per-event cost is a port check.

import type { NetworkEvent } from '../contract/events.js';
import type { Detector } from './detector.js';
import type { DetectorMeta } from './types.js';
import { createPortSweepDetector, type PortSweepOptions } from './port-sweep.js';
import { isPrivateAddress } from './addresses.js';
import { isInternalName } from './domains.js';

export type IndustrialProtocolOptions = PortSweepOptions;

/** Ports of industrial control protocols, by name (for the finding). */
const INDUSTRIAL_PORTS = new Map<number, string>([
  [502, 'Modbus/TCP'],
  [102, 'S7comm'],
  [44818, 'EtherNet/IP'],
  [20000, 'DNP3'],
  [47808, 'BACnet'],
  [4840, 'OPC UA'],
  [2404, 'IEC 60870-5-104'],
  [34962, 'Profinet'],
  [34963, 'Profinet'],
  [34964, 'Profinet'],
  [1911, 'Niagara Fox'],
  [9600, 'Omron FINS'],
  [5007, 'MELSEC'],
  [18245, 'GE SRTP'],
]);

/**
 * SEMI E37 HSMS, the TCP transport of SECS/GEM between a fab's tools and
 * their equipment automation servers: no assigned port, 5000-5010 by
 * convention (5007 is MELSEC's). Those ports are also any web framework's
 * default (Kestrel, Flask), so a flow on them counts only to a private
 * address: tools sit on the fab's equipment network, never on the internet.
 */
export const HSMS = 'HSMS (SECS/GEM)';
const HSMS_FIRST = 5000;
const HSMS_LAST = 5010;

/** The plant's web HMIs and device pages: plain HTTP, named as the plant's (see otHostName). */
export const HMI_WEB = 'HMI web (HTTP)';
const HMI_WEB_PORTS = new Set([80, 8080, 8000, 8081, 8888]);

/**
 * The industrial protocol of a destination port, or undefined (HTTPS and DNS
 * compared first: every network event is asked). Plain-HTTP ports are HMI_WEB,
 * which counts only for a host named as the plant's (see industrialFlow).
 */
export function industrialProtocol(port: number): string | undefined {
  if (port === 443 || port === 53) return undefined;
  if (HMI_WEB_PORTS.has(port)) return HMI_WEB;
  return INDUSTRIAL_PORTS.get(port) ?? (port >= HSMS_FIRST && port <= HSMS_LAST ? HSMS : undefined);
}

/**
 * A host named as a plant device or its network: a label (or its start,
 * before digits) hmi, scada, plc, rtu, dcs, or an ot or ics zone
 * (hmi-gate-14.ot.example.no, plc03.site.example.com).
 */
const OT_HOST = /(?:^|[.\-_])(?:hmi|scada|plc|rtu|dcs|ot|ics)\d*(?=[.\-_]|$)/i;
export function otHostName(host: string): boolean {
  return OT_HOST.test(host);
}

/** Whether a flow on an industrial port counts: an HMI_WEB flow only to a host named as the plant's, an HSMS one only to a private address. */
export function industrialFlow(e: NetworkEvent, protocol: string): boolean {
  if (protocol === HMI_WEB) return otHostName(e.dest_host);
  return protocol !== HSMS || (e.dest_ip !== null ? isPrivateAddress(e.dest_ip) : isInternalName(e.dest_host));
}

export const industrialProtocolMeta: DetectorMeta = {
  id: 'industrial-protocol',
  title: 'Industrial control protocols spoken by an agent',
  severity: 'medium',
  mitre: { id: 'T0846', name: 'Remote System Discovery (ATT&CK for ICS)' },
  description:
    "An agent's flows to industrial control ports (Modbus/TCP 502, S7comm 102, EtherNet/IP 44818, DNP3 20000, BACnet 47808, OPC UA 4840, IEC 104 2404, Profinet..., HSMS SECS/GEM 5000-5010 to a private address), or over plain HTTP to the web HMI of a host named as the plant's (hmi, scada, plc, rtu or dcs, or an ot or ics zone), reach 5 distinct hosts, or number 20, within 10 minutes, where its blueprint does not speak these protocols (2 of its agents, or its agents for an hour): an IT agent sweeping the plant's controllers and sending them commands, the pivot from IT into OT. " +
    'Medium, once per agent an hour.',
};

export function createIndustrialProtocolDetector(options: IndustrialProtocolOptions = {}): Detector {
  return createPortSweepDetector(
    {
      meta: industrialProtocolMeta,
      protocolOf: industrialProtocol,
      admits: industrialFlow,
      hostNoun: 'industrial control host',
      meaning: "a sweep of the plant's controllers, or commands sent to them",
      baselineKey: 'blueprint_speaks_industrial_protocols',
    },
    options,
  );
}
