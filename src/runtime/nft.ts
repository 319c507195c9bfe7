/**
 * Kernel network faults for a local cluster (`steadfast cluster --faults omission|partition`):
 * one nftables table of our own, `table inet steadfast_<pid>`, whose rules drop the packets of
 * the cluster's nodes only. Each node has its own loopback address (127.0.0.2, 127.0.0.3, …: on
 * Linux all of 127.0.0.0/8 is local without configuration), so a rule matches a node pair by
 * `ip saddr` / `ip daddr`; no other traffic of the machine is touched.
 *
 *   omission   `ip saddr {nodes} ip daddr {nodes} meta l4proto udp numgen random mod 100 < P drop`
 *   partition  `ip saddr {A} ip daddr {B} drop` and the reverse (heal: the rules are flushed)
 *
 * Guarantees: `nftUnavailable()` says why the kernel cannot be asked (not Linux, not root, `nft`
 * missing, the kernel refuses a table), so the CLI fails with that reason and tests skip with it;
 * `NftFaults.delete()` removes the table, whatever rules it holds (call it in `finally`; it is
 * idempotent and never throws). Rules are on the input hook: on loopback every packet crosses it
 * once, at its addressee.
 * Assumes: Linux, root, nftables; the nodes' addresses are IPv4 and bound by the nodes themselves
 * (UDP: a datagram's source is its socket's bound address).
 */

import { execFileSync, spawnSync } from 'node:child_process';

let cached: string | undefined | null = null;

/** Why kernel network faults cannot be injected here, or undefined if they can. */
export function nftUnavailable(): string | undefined {
  if (cached !== null) return cached;
  cached = probe();
  return cached;
}

function probe(): string | undefined {
  if (process.platform !== 'linux') return `needs Linux (nftables), this is ${process.platform}`;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return 'needs root to install nftables rules';
  }
  if (spawnSync('sh', ['-c', 'command -v nft'], { stdio: 'ignore' }).status !== 0) {
    return "the 'nft' command (nftables) is not installed";
  }
  const t = new NftFaults(`steadfast_probe_${process.pid}`);
  try {
    t.install([]);
  } catch (e) {
    return `nftables refuses a table: ${e instanceof Error ? (e.message.split('\n')[0] ?? '') : String(e)}`;
  } finally {
    t.delete();
  }
  return undefined;
}

/** `nft args…`, inside network namespace `netns` when given. */
function nftArgv(netns: string | undefined, args: readonly string[]): [string, string[]] {
  return netns === undefined
    ? ['nft', [...args]]
    : ['ip', ['netns', 'exec', netns, 'nft', ...args]];
}

function nft(script: string, netns: string | undefined): void {
  const [cmd, argv] = nftArgv(netns, ['-f', '-']);
  execFileSync(cmd, argv, { input: script, stdio: ['pipe', 'pipe', 'pipe'] });
}

const set = (hosts: readonly string[]): string => `{ ${hosts.join(', ')} }`;

/** A rule dropping `percent`% of the UDP datagrams (or TCP segments) between any two of `hosts`. */
export function omissionRule(
  hosts: readonly string[],
  percent: number,
  protocol: 'udp' | 'tcp' = 'udp',
): string {
  if (!Number.isInteger(percent) || percent < 1 || percent > 100) {
    throw new RangeError(`omission percent must be an integer in 1..100, got ${percent}`);
  }
  return `ip saddr ${set(hosts)} ip daddr ${set(hosts)} meta l4proto ${protocol} numgen random mod 100 < ${percent} counter drop`;
}

/**
 * A rule sending a second copy of `percent`% of the UDP datagrams (or TCP segments) this node
 * sends to any of `hosts` (output hook; `dup to ip daddr device <dev>`: the copy takes the same
 * path to the same addressee). Only where the node has a real interface of its own (netns.ts).
 */
export function duplicationRule(
  hosts: readonly string[],
  percent: number,
  device: string,
  protocol: 'udp' | 'tcp' = 'udp',
): string {
  if (!Number.isInteger(percent) || percent < 1 || percent > 100) {
    throw new RangeError(`duplication percent must be an integer in 1..100, got ${percent}`);
  }
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(device)) throw new RangeError(`bad device ${device}`);
  return `ip daddr ${set(hosts)} meta l4proto ${protocol} numgen random mod 100 < ${percent} counter dup to ip daddr device "${device}"`;
}

/**
 * Two rules dropping `percent`% of the packets to or from `port` (of `protocol`) at random: loss
 * on one service's traffic only (a store's replica links, not its clients' HTTP).
 */
export function portOmissionRules(
  port: number,
  percent: number,
  protocol: 'udp' | 'tcp' = 'tcp',
): string[] {
  if (!Number.isInteger(percent) || percent < 1 || percent > 100) {
    throw new RangeError(`omission percent must be an integer in 1..100, got ${percent}`);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65_535)
    throw new RangeError(`bad port ${port}`);
  return ['dport', 'sport'].map(
    (dir) => `${protocol} ${dir} ${port} numgen random mod 100 < ${percent} counter drop`,
  );
}

/** Two rules dropping every packet between group `a` and group `b`, both ways. */
export function partitionRules(a: readonly string[], b: readonly string[]): string[] {
  if (a.length === 0 || b.length === 0) throw new RangeError('a partition needs two groups');
  return [
    `ip saddr ${set(a)} ip daddr ${set(b)} counter drop`,
    `ip saddr ${set(b)} ip daddr ${set(a)} counter drop`,
  ];
}

export class NftFaults {
  private created = false;
  /** Drops counted by rules since replaced or removed (a replacement resets the counters). */
  private droppedBefore = 0;
  private duplicatedBefore = 0;
  /** Whether the duplication table (`table ip <name>`) exists. */
  private dupTable = false;

  /**
   * `name`: the table's name (default `steadfast_<pid>`); letters, digits and `_` only.
   * `netns`: the network namespace whose kernel holds the table (default: this process's).
   */
  constructor(
    readonly name = `steadfast_${process.pid}`,
    readonly netns?: string,
  ) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new RangeError(`bad table name ${name}`);
  }

  /**
   * Replaces the table's rules with `rules` (none: every packet passes: healed), and the
   * duplication table's with `dups` (duplicationRule; on the output hook of a `table ip` of the
   * same name, the family nftables' `dup` needs).
   */
  install(rules: readonly string[], dups: readonly string[] = []): void {
    this.droppedBefore += this.counted();
    this.duplicatedBefore += this.countedDups();
    this.created = true;
    if (dups.length > 0 || this.dupTable) {
      this.dupTable = true;
      nft(
        `table ip ${this.name}\n` +
          `delete table ip ${this.name}\n` +
          `table ip ${this.name} {\n` +
          `  chain output {\n` +
          `    type filter hook output priority 0; policy accept;\n` +
          dups.map((r) => `    ${r}\n`).join('') +
          `  }\n` +
          `}\n`,
        this.netns,
      );
    }
    nft(
      `table inet ${this.name}\n` +
        `delete table inet ${this.name}\n` +
        `table inet ${this.name} {\n` +
        `  chain input {\n` +
        `    type filter hook input priority 0; policy accept;\n` +
        rules.map((r) => `    ${r}\n`).join('') +
        `  }\n` +
        `}\n`,
      this.netns,
    );
  }

  /** Packets dropped so far by the table's rules, over every install, removal included. */
  dropped(): number {
    return this.droppedBefore + this.counted();
  }

  /** Packets duplicated so far by the duplication rules (each counted once: one extra copy). */
  duplicated(): number {
    return this.duplicatedBefore + this.countedDups();
  }

  private countedDups(): number {
    return this.dupTable ? this.countIn('ip') : 0;
  }

  private counted(): number {
    return this.created ? this.countIn('inet') : 0;
  }

  private countIn(family: 'inet' | 'ip'): number {
    const [cmd, argv] = nftArgv(this.netns, ['list', 'table', family, this.name]);
    const r = spawnSync(cmd, argv, { encoding: 'utf8' });
    if (r.status !== 0) return 0;
    let n = 0;
    for (const m of r.stdout.matchAll(/counter packets (\d+)/g)) n += Number(m[1]);
    return n;
  }

  /** Removes the table (idempotent, never throws). */
  delete(): void {
    if (!this.created) return;
    this.droppedBefore += this.counted();
    this.duplicatedBefore += this.countedDups();
    this.created = false;
    const [cmd, argv] = nftArgv(this.netns, ['delete', 'table', 'inet', this.name]);
    spawnSync(cmd, argv, { stdio: 'ignore' });
    if (this.dupTable) {
      this.dupTable = false;
      const [c2, a2] = nftArgv(this.netns, ['delete', 'table', 'ip', this.name]);
      spawnSync(c2, a2, { stdio: 'ignore' });
    }
  }
}

/** The names of the nftables tables of family inet now installed (for tests: no leftovers). */
export function inetTables(): string[] {
  const r = spawnSync('nft', ['list', 'tables'], { encoding: 'utf8' });
  return r.status !== 0
    ? []
    : [...r.stdout.matchAll(/^table inet (\S+)/gm)].map((m) => m[1] ?? '').filter(Boolean);
}
