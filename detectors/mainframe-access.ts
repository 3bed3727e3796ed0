// Detector 36 — mainframe-access: an agent's runtime speaks the mainframe's
// terminal and database protocols, where its blueprint never does (T1021
// Remote Services; T1046 Network Service Discovery for the sweep).
//
// Banks, insurers and airlines still keep their books on z/OS and IBM i. An
// intruder on a Windows or Linux workload that can route to the mainframe
// LPARs probes TN3270 (23, or 992 over TLS) and DRDA (446/448) across them,
// then scrapes CICS screens over TN3270 or pulls datasets: the pivot of a
// crew after cardholder or account data. A workload that works with the
// mainframe speaks these protocols every day (its blueprint's agents);
// one that never did, and now reaches several LPARs within minutes or sends
// one a stream of screen exchanges, is not at work. Telnet (23) shares the
// TN3270 port: an agent that never spoke it sweeping hosts on it is the same
// finding.
//
// Rule (port-sweep.ts): flows of an agent to mainframe ports reaching 5
// distinct hosts, or 20 flows, within 10 minutes, where its blueprint does
// not speak them (2 of its agents, or its agents for an hour) → medium, once
// per agent an hour. The per-event cost is a port check.

import type { Detector } from './detector.js';
import type { DetectorMeta } from './types.js';
import { createPortSweepDetector, type PortSweepOptions } from './port-sweep.js';

export type MainframeAccessOptions = PortSweepOptions;

/** Ports of mainframe terminal and database protocols (z/OS, IBM i), by name (for the finding). */
const MAINFRAME_PORTS = new Map<number, string>([
  [23, 'TN3270/Telnet'],
  [992, 'TN3270 over TLS'],
  [446, 'DRDA'],
  [448, 'DRDA over TLS'],
  [449, 'IBM i server mapper'],
  [8470, 'IBM i host server'],
  [8471, 'IBM i database server'],
  [8472, 'IBM i data queue server'],
  [8473, 'IBM i file server'],
  [8474, 'IBM i network print server'],
  [8475, 'IBM i remote command server'],
  [8476, 'IBM i sign-on server'],
  [9471, 'IBM i database server over TLS'],
  [9473, 'IBM i file server over TLS'],
  [9475, 'IBM i remote command server over TLS'],
  [9476, 'IBM i sign-on server over TLS'],
]);

/** The mainframe protocol of a destination port, or undefined (HTTPS, HTTP and DNS compared first: every network event is asked). */
export function mainframeProtocol(port: number): string | undefined {
  return port === 443 || port === 80 || port === 53 ? undefined : MAINFRAME_PORTS.get(port);
}

export const mainframeAccessMeta: DetectorMeta = {
  id: 'mainframe-access',
  title: 'Mainframe protocols spoken by an agent',
  severity: 'medium',
  mitre: { id: 'T1021', name: 'Remote Services' },
  description:
    "An agent's flows to mainframe terminal and database ports (TN3270 or Telnet 23, TN3270 over TLS 992, DRDA 446/448, the IBM i host servers 449 and 8470-8476/9470-9476) reach 5 distinct hosts, or number 20, within 10 minutes, where its blueprint does not speak these protocols (2 of its agents, or its agents for an hour): a workload sweeping the mainframe's LPARs, scraping CICS screens or pulling its data, the pivot of a crew after account data. " +
    'Medium, once per agent an hour.',
};

export function createMainframeAccessDetector(options: MainframeAccessOptions = {}): Detector {
  return createPortSweepDetector(
    {
      meta: mainframeAccessMeta,
      protocolOf: mainframeProtocol,
      hostNoun: 'mainframe host',
      meaning: "a sweep of the mainframe's systems, or its screens scraped",
      baselineKey: 'blueprint_speaks_mainframe_protocols',
    },
    options,
  );
}
