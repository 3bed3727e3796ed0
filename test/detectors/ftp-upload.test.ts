import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { createFtpUploadDetector } from '../../detectors/ftp-upload.js';
import { HOUR, SEC, T0, fakeContext, feed, network, resetIds, runWithRestore } from './helpers/context.js';

beforeEach(() => resetIds());

const FTP = { dest_host: 'ftp.clinica-exemplo.com.br', dest_ip: '177.70.10.20', category: 'business' };

/** `n` files sent by `agent` over FTP: a control exchange on 21, then a data connection on a passive port with `bytes` out. */
function files(agent: string, n: number, bytes: number, from: number, extra: Partial<AgentEvent> = {}): AgentEvent[] {
  const out: AgentEvent[] = [];
  for (let k = 0; k < n; k++) {
    const t = from + k * 20 * SEC;
    out.push(network({ agent_id: agent, time: t, ...FTP, dest_port: 21, bytes_out: 400, bytes_in: 900, event_id: `ctl-${agent}-${k}`, ...extra } as never));
    out.push(network({ agent_id: agent, time: t + 2 * SEC, ...FTP, dest_port: 50_000 + k, bytes_out: bytes, bytes_in: 120, event_id: `data-${agent}-${k}`, ...extra } as never));
  }
  return out;
}

const run = (events: AgentEvent[]) => feed(createFtpUploadDetector(), fakeContext(), events.sort((x, y) => x.time - y.time));

describe('ftp-upload', () => {
  it('is medium once an agent sends 256 KiB over FTP to a public host its blueprint does not use FTP with', () => {
    const out = run(files('a1', 5, 120_000, T0));
    expect(out.map((x) => [x.agent_id, x.severity, x.time])).toEqual([['a1', 'medium', T0 + 2 * 20 * SEC + 2 * SEC]]);
    expect(out[0]!.summary).toContain('over FTP to ftp.clinica-exemplo.com.br');
    expect(out[0]!.event_ids[0]).toBe('ctl-a1-0');
  });

  it('stays quiet under 256 KiB, for a private FTP server, for uploads to other hosts, and for a blueprint that uses FTP with the host', () => {
    expect(run(files('a1', 2, 120_000, T0))).toEqual([]);
    expect(run(files('a1', 5, 120_000, T0, { dest_ip: '10.1.2.3' }))).toEqual([]);
    // Control to the FTP host, the bytes to another host.
    expect(run(files('a1', 5, 120_000, T0).map((e, i) => (i % 2 === 1 ? ({ ...e, dest_host: 'api.contoso.com' } as AgentEvent) : e)))).toEqual([]);
    // Two agents of the blueprint exchange files with it (an EDI partner): the blueprint's own.
    expect(run([...files('e1', 1, 1_000, T0 - HOUR), ...files('e2', 1, 1_000, T0 - HOUR + 60 * SEC), ...files('a1', 5, 120_000, T0)])).toEqual([]);
  });

  it('fires once an hour and survives a snapshot and restore', () => {
    expect(run([...files('a1', 5, 120_000, T0), ...files('a1', 5, 120_000, T0 + 20 * 60 * SEC)])).toHaveLength(1);
    const events = files('a1', 5, 120_000, T0);
    const { uninterrupted, restored } = runWithRestore(() => createFtpUploadDetector(), events, 3);
    expect(uninterrupted).toHaveLength(1);
    expect(restored).toEqual(uninterrupted);
  });
});
