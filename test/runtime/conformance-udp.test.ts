// The transport conformance suite against real UDP on loopback.
import { createSocket } from 'node:dgram';
import type { Address } from '../../src/runtime/transport.ts';
import { UdpTransport } from '../../src/runtime/udp.ts';
import { transportConformance } from './conformance.ts';
import { freeUdpPort } from '../../src/runtime/ports.ts';

transportConformance({
  name: 'udp',
  faulty: false,
  network: async (ids) => {
    const peers = new Map<string, Address>();
    for (const id of ids) peers.set(id, { host: '127.0.0.1', port: await freeUdpPort() });
    const raw = createSocket('udp4');
    return {
      transport: (id) => {
        const bind = peers.get(id);
        if (bind === undefined) throw new Error(`no node ${id}`);
        return new UdpTransport({ bind, peers });
      },
      inject: async (to, bytes) => {
        const a = peers.get(to);
        if (a === undefined) return;
        await new Promise<void>((resolve) => {
          raw.send(bytes, a.port, a.host, () => {
            resolve();
          });
        });
      },
      close: () =>
        new Promise<void>((resolve) => {
          raw.close(() => {
            resolve();
          });
        }),
    };
  },
});
