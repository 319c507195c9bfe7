/**
 * A network of namespaces for the store's process-level fault test: one namespace per replica,
 * each with its own address on one bridge, and a hub namespace holding the bridge (and the
 * clients), so nothing is added to the host's own namespace.
 *
 *   hub  (sf-kvh-<tag>):  br0 10.77.0.254/24, veth vh1..vhN enslaved to it
 *   ns i (sf-kv<i>-<tag>): eth0 10.77.0.<i>/24 (the other end of vh<i>), lo up
 *
 * Kernel loss between replicas: in every replica namespace an nftables table (`inet sf_kv`) drops
 * `dropPercent`% of the TCP packets to or from the replica port at random on input
 * (`numgen random mod 100 < P`), so replica-to-replica traffic (data, acks, handshakes) loses
 * packets in the kernel while client traffic (HTTP port) does not.
 *
 * Guarantees: `create` either returns a complete network or removes what it made and throws;
 * `delete` removes every namespace it created (veth pairs and the bridge go with them) and is
 * idempotent; `kvNetUnavailable()` says why this cannot run here (not Linux, not root, `ip` or
 * `nft` missing, the kernel refuses), for a test to skip with the reason.
 * Assumes: Linux, root, 10.77.0.0/24 unused inside these fresh namespaces (they see nothing else).
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export const REPLICA_PORT = 7000;
export const HTTP_PORT = 8000;

function ip(args: readonly string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

function nft(ns: string, rules: string): void {
  execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: rules, stdio: 'pipe' });
}

export class KvNet {
  private deleted = false;
  private readonly made: string[] = [];

  private constructor(
    readonly hub: string,
    readonly replicas: readonly string[],
  ) {}

  /** The address of replica `i` (0-based). */
  static addressOf(i: number): string {
    return `10.77.0.${i + 1}`;
  }

  static create(n: number, dropPercent: number): KvNet {
    const tag = randomBytes(3).toString('hex');
    const net = new KvNet(
      `sf-kvh-${tag}`,
      Array.from({ length: n }, (_, i) => `sf-kv${i + 1}-${tag}`),
    );
    try {
      ip(['netns', 'add', net.hub]);
      net.made.push(net.hub);
      ip(['-n', net.hub, 'link', 'set', 'lo', 'up']);
      ip(['-n', net.hub, 'link', 'add', 'br0', 'type', 'bridge']);
      ip(['-n', net.hub, 'addr', 'add', '10.77.0.254/24', 'dev', 'br0']);
      ip(['-n', net.hub, 'link', 'set', 'br0', 'up']);
      net.replicas.forEach((ns, i) => {
        ip(['netns', 'add', ns]);
        net.made.push(ns);
        ip(['-n', ns, 'link', 'set', 'lo', 'up']);
        const v = `vh${i + 1}`;
        ip(['-n', net.hub, 'link', 'add', v, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
        ip(['-n', net.hub, 'link', 'set', v, 'master', 'br0']);
        ip(['-n', net.hub, 'link', 'set', v, 'up']);
        ip(['-n', ns, 'addr', 'add', `${KvNet.addressOf(i)}/24`, 'dev', 'eth0']);
        ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
        // A LAN's retransmission floor instead of the WAN default of 200 ms (this namespace's
        // route only): a dropped segment then costs milliseconds, as on a datacenter network.
        ip([
          '-n',
          ns,
          'route',
          'replace',
          '10.77.0.0/24',
          'dev',
          'eth0',
          'rto_min',
          '10ms',
          'quickack',
          '1',
        ]);
      });
      net.setDrop(dropPercent);
    } catch (e) {
      net.delete();
      throw e;
    }
    return net;
  }

  /** Replaces the drop rule in every replica namespace (0: none). */
  setDrop(percent: number): void {
    if (!Number.isInteger(percent) || percent < 0 || percent > 100) {
      throw new RangeError(`drop percent must be an integer in 0..100, got ${percent}`);
    }
    const drop = (dir: string) =>
      percent > 0
        ? `    tcp ${dir} ${REPLICA_PORT} numgen random mod 100 < ${percent} counter drop\n`
        : '';
    const rules =
      `table inet sf_kv\ndelete table inet sf_kv\n` +
      `table inet sf_kv {\n  chain input {\n    type filter hook input priority 0; policy accept;\n` +
      drop('dport') +
      drop('sport') +
      `  }\n}\n`;
    for (const ns of this.replicas) nft(ns, rules);
  }

  /** Packets the kernel dropped by the rule, over every replica namespace. */
  dropped(): number {
    let total = 0;
    for (const ns of this.replicas) {
      const out = execFileSync(
        'ip',
        ['netns', 'exec', ns, 'nft', 'list', 'table', 'inet', 'sf_kv'],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      ).toString();
      for (const m of out.matchAll(/counter packets (\d+)/g)) total += Number(m[1]);
    }
    return total;
  }

  delete(): void {
    if (this.deleted) return;
    this.deleted = true;
    for (const ns of this.made.reverse())
      spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  }
}

let reason: string | undefined | null = null;

/** Why the namespace network cannot be built here, or undefined if it can (probed once). */
export function kvNetUnavailable(): string | undefined {
  if (reason !== null) return reason;
  if (process.platform !== 'linux') reason = `needs Linux, this is ${process.platform}`;
  else if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    reason = 'needs root (ip netns, veth, bridge, nftables)';
  } else if (
    spawnSync('sh', ['-c', 'command -v ip && command -v nft'], { stdio: 'ignore' }).status !== 0
  ) {
    reason = "needs the 'ip' (iproute2) and 'nft' (nftables) commands";
  } else {
    let net: KvNet | undefined;
    try {
      net = KvNet.create(1, 1);
      reason = undefined;
    } catch (e) {
      reason = `the kernel refused a namespace network: ${e instanceof Error ? e.message : String(e)}`;
    } finally {
      net?.delete();
    }
  }
  return reason;
}
