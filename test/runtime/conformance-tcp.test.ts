// The transport conformance suite against real TCP on loopback.
import { connect } from 'node:net';
import type { Address } from '../../src/runtime/transport.ts';
import { TcpTransport } from '../../src/runtime/tcp.ts';
import { transportConformance } from './conformance.ts';
import { freeTcpPort } from '../../src/runtime/ports.ts';

transportConformance({
  name: 'tcp',
  faulty: false,
  network: async (ids) => {
    const peers = new Map<string, Address>();
    for (const id of ids) peers.set(id, { host: '127.0.0.1', port: await freeTcpPort() });
    return {
      transport: (id) => {
        const bind = peers.get(id);
        if (bind === undefined) throw new Error(`no node ${id}`);
        return new TcpTransport({ bind, peers, reconnectMinMs: 10, reconnectMaxMs: 200 });
      },
      // An outsider's connection: write the bytes, close.
      inject: async (to, bytes) => {
        const a = peers.get(to);
        if (a === undefined) return;
        await new Promise<void>((resolve) => {
          const s = connect(a.port, a.host, () => {
            s.end(bytes, () => {
              resolve();
            });
          });
          s.on('error', () => {
            resolve();
          });
        });
      },
      close: () => Promise.resolve(),
    };
  },
});
