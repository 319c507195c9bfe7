/**
 * Network namespaces with kernel-level packet loss for the real-fault tests and the benchmark:
 * `ip netns add sf-test-<random>`, loopback up, and an nftables table that drops a given
 * percentage of UDP packets at random on the input hook (`numgen random mod 100 < P drop`), so
 * every datagram crossing loopback inside the namespace — data and acks alike — is dropped with
 * probability P by the kernel, not by our code.
 *
 * Guarantees: `netnsUnavailable()` says why namespaces cannot be used here (not root, `ip` or
 * `nft` missing, the kernel refuses), so a test can skip with that reason instead of silently;
 * `NetNs.delete()` removes the namespace (call it in `finally`).
 * Assumes: Linux, root.
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { netnsClusterUnavailable } from '../../src/runtime/netns.ts';

let cachedReason: string | undefined | null = null;

/** Why namespaces with nftables cannot be used here, or undefined if they can. */
export function netnsUnavailable(): string | undefined {
  if (cachedReason !== null) return cachedReason;
  cachedReason = probe();
  return cachedReason;
}

function probe(): string | undefined {
  // Linux, root, iproute2, nftables and a kernel that makes namespaces: the cluster's own probe.
  const why = netnsClusterUnavailable();
  if (why !== undefined) return why;
  let ns: NetNs | undefined;
  try {
    ns = NetNs.create(1);
  } catch (e) {
    return `cannot create a network namespace with nftables: ${e instanceof Error ? e.message : String(e)}`;
  } finally {
    ns?.delete();
  }
  return undefined;
}

export class NetNs {
  private deleted = false;

  private constructor(
    readonly name: string,
    private readonly protocols: readonly ('udp' | 'tcp')[],
  ) {}

  /**
   * A new namespace with loopback up, dropping `dropPercent`% of the packets of `protocols`
   * (default UDP only) on input (0: none).
   */
  static create(dropPercent: number, protocols: readonly ('udp' | 'tcp')[] = ['udp']): NetNs {
    const name = `sf-test-${randomBytes(4).toString('hex')}`;
    execFileSync('ip', ['netns', 'add', name], { stdio: 'pipe' });
    const ns = new NetNs(name, protocols);
    try {
      execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up'], { stdio: 'pipe' });
      if (dropPercent > 0) ns.setDrop(dropPercent);
    } catch (e) {
      ns.delete();
      throw e;
    }
    return ns;
  }

  /** Replaces the drop rule: `percent`% of the packets of the namespace's protocols dropped. */
  setDrop(percent: number): void {
    if (!Number.isInteger(percent) || percent < 0 || percent > 100) {
      throw new RangeError(`drop percent must be an integer in 0..100, got ${percent}`);
    }
    const rules =
      `table inet sf_drop\n` +
      `delete table inet sf_drop\n` +
      `table inet sf_drop {\n` +
      `  chain input {\n` +
      `    type filter hook input priority 0; policy accept;\n` +
      (percent > 0
        ? `    meta l4proto { ${this.protocols.join(', ')} } numgen random mod 100 < ${percent} counter drop\n`
        : '') +
      `  }\n` +
      `}\n`;
    execFileSync('ip', ['netns', 'exec', this.name, 'nft', '-f', '-'], {
      input: rules,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  }

  /** Packets the kernel has dropped so far by the drop rule (its counter). */
  dropped(): number {
    const out = execFileSync(
      'ip',
      ['netns', 'exec', this.name, 'nft', 'list', 'table', 'inet', 'sf_drop'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    ).toString();
    const m = /counter packets (\d+)/.exec(out);
    return m === null ? 0 : Number(m[1]);
  }

  delete(): void {
    if (this.deleted) return;
    this.deleted = true;
    spawnSync('ip', ['netns', 'del', this.name], { stdio: 'ignore' });
  }
}
