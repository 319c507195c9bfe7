/**
 * A network namespace per node for a local cluster (`steadfast cluster --network netns`): the
 * nodes behave as separate hosts on one Ethernet segment, so a partition or a loss rule is a real
 * network fault on real interfaces, and TCP works under network faults (a connection's source
 * address is its node's, as between machines).
 *
 *   hub namespace   sfc<tag>-hub: a bridge `br0` and one veth end `p<i>` per node, enslaved to
 *                   it; optionally the address HUB_ADDRESS on the bridge (clients run here)
 *   node namespace  sfc<tag>-<id>: loopback up, the other veth end as `eth0`, address
 *                   10.77.0.<i+1>/24 (i = the node's 1-based index), no route anywhere else
 *
 * Nothing is created in the host's own namespace (every link is made inside the hub), and the
 * segment has no uplink: no traffic can leave it. Faults are nftables tables inside each node's
 * namespace (nft.ts `NftFaults` with `netns`), on its input hook: every packet crosses it once,
 * at its addressee, as on loopback.
 *
 * Guarantees: `netnsClusterUnavailable()` says why namespaces cannot be used (not Linux, not
 * root, `ip`/`nft` missing, the kernel refuses), so the CLI says so and tests skip with that
 * reason; `create` either returns a complete segment or removes what it made and throws;
 * `delete()` removes every namespace it created (idempotent, never throws; deleting a node's
 * namespace removes its veth pair).
 * Assumes: Linux, root, iproute2 with `ip link add … peer name … netns …`; at most 250 nodes.
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { NodeId } from '../core/ids.ts';

/** The port every node listens on inside its own namespace (no other socket shares it). */
export const NETNS_NODE_PORT = 7100;
/** The bridge's own address when the hub takes part (`hubAddress`). */
export const HUB_ADDRESS = '10.77.0.254';

function ip(args: readonly string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

let cached: string | undefined | null = null;

/** Why a namespace per node cannot be set up here, or undefined if it can. */
export function netnsClusterUnavailable(): string | undefined {
  if (cached !== null) return cached;
  cached = probe();
  return cached;
}

function probe(): string | undefined {
  if (process.platform !== 'linux') return `needs Linux, this is ${process.platform}`;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return 'needs root (ip netns, veth, bridge)';
  }
  if (!which('ip')) return "the 'ip' command (iproute2) is not installed";
  if (!which('nft')) return "the 'nft' command (nftables) is not installed";
  let seg: NodeNamespaces | undefined;
  try {
    seg = NodeNamespaces.create(['n1']);
  } catch (e) {
    return `the kernel refuses a namespace with a veth and a bridge: ${e instanceof Error ? (e.message.split('\n')[0] ?? '') : String(e)}`;
  } finally {
    seg?.delete();
  }
  return undefined;
}

export class NodeNamespaces {
  private readonly made: string[] = [];
  private deleted = false;
  private readonly byId = new Map<NodeId, { ns: string; host: string }>();
  private hubNs = '';

  private constructor(readonly tag: string) {}

  /**
   * A segment for `ids` (in this order: the i-th gets 10.77.0.(i+2)). Options:
   * `hubAddress`: the bridge gets HUB_ADDRESS, so a process run in the hub namespace (a test's
   * clients) reaches every node, as a client host on the same LAN would;
   * `rtoMinMs`: TCP's retransmission floor on each node's route to the segment (default the
   * kernel's 200 ms, a WAN's; 10 ms is a datacenter's), with quick acks.
   */
  static create(
    ids: readonly NodeId[],
    opts: { readonly hubAddress?: boolean; readonly rtoMinMs?: number } = {},
  ): NodeNamespaces {
    if (ids.length < 1 || ids.length > 250) throw new RangeError(`1..250 nodes, got ${ids.length}`);
    const seg = new NodeNamespaces(randomBytes(3).toString('hex'));
    try {
      const hub = seg.add('hub');
      seg.hubNs = hub;
      ip(['-n', hub, 'link', 'set', 'lo', 'up']);
      ip(['-n', hub, 'link', 'add', 'br0', 'type', 'bridge']);
      if (opts.hubAddress === true)
        ip(['-n', hub, 'addr', 'add', `${HUB_ADDRESS}/24`, 'dev', 'br0']);
      ip(['-n', hub, 'link', 'set', 'br0', 'up']);
      for (const [k, id] of ids.entries()) {
        if (!/^[A-Za-z0-9_-]{1,16}$/.test(id))
          throw new RangeError(`node id ${id}: not a namespace name`);
        const ns = seg.add(id);
        const host = `10.77.0.${k + 2}`;
        ip(['-n', ns, 'link', 'set', 'lo', 'up']);
        ip([
          '-n',
          hub,
          'link',
          'add',
          `p${k}`,
          'type',
          'veth',
          'peer',
          'name',
          'eth0',
          'netns',
          ns,
        ]);
        ip(['-n', hub, 'link', 'set', `p${k}`, 'master', 'br0', 'up']);
        ip(['-n', ns, 'addr', 'add', `${host}/24`, 'dev', 'eth0']);
        ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
        if (opts.rtoMinMs !== undefined) {
          ip([
            ...['-n', ns, 'route', 'replace', '10.77.0.0/24', 'dev', 'eth0'],
            ...['rto_min', `${opts.rtoMinMs}ms`, 'quickack', '1'],
          ]);
        }
        seg.byId.set(id, { ns, host });
      }
    } catch (e) {
      seg.delete();
      throw e;
    }
    return seg;
  }

  private add(suffix: string): string {
    const name = `sfc${this.tag}-${suffix}`;
    ip(['netns', 'add', name]);
    this.made.push(name);
    return name;
  }

  /** The hub namespace (the bridge; with `hubAddress`, a place for clients to run). */
  get hub(): string {
    return this.hubNs;
  }

  /** The namespace node `id` runs in. */
  nsOf(id: NodeId): string {
    const n = this.byId.get(id);
    if (n === undefined) throw new RangeError(`no namespace for node ${id}`);
    return n.ns;
  }

  /** Node `id`'s address on the segment. */
  hostOf(id: NodeId): string {
    const n = this.byId.get(id);
    if (n === undefined) throw new RangeError(`no address for node ${id}`);
    return n.host;
  }

  /** Every node namespace, in node order. */
  namespaces(): string[] {
    return [...this.byId.values()].map((n) => n.ns);
  }

  /** Removes every namespace this segment created, nodes first, then the hub. */
  delete(): void {
    if (this.deleted) return;
    this.deleted = true;
    for (const name of [...this.made].reverse()) {
      spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
    }
  }
}

/** The names of the namespaces now present whose name starts with `sfc` (tests: no leftovers). */
export function clusterNamespaces(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return r.status !== 0
    ? []
    : [...r.stdout.matchAll(/^(sfc\S+)/gm)].map((m) => m[1] ?? '').filter(Boolean);
}
