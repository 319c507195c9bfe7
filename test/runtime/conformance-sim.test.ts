// The transport conformance suite against the simulated network (the simulator's fault model:
// 10% loss, 10% duplication, 1–5 ms random delays that reorder).
import { SimNetwork } from './sim-network.ts';
import { transportConformance } from './conformance.ts';

let seed = 1;
transportConformance({
  name: 'sim',
  faulty: true,
  network: (ids) => {
    const net = new SimNetwork(seed++, ids, {
      lossProbability: 0.1,
      duplicateProbability: 0.1,
      duplicateMaxCopies: 2,
      delay: { kind: 'uniform', minMs: 1, maxMs: 5 },
    });
    return Promise.resolve({
      transport: (id) => net.transport(id),
      inject: (to, bytes) => {
        net.inject(to, bytes);
        return Promise.resolve();
      },
      close: () => {
        net.close();
        return Promise.resolve();
      },
    });
  },
});
