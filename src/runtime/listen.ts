/**
 * The node's JSON Lines protocol over a Unix domain socket (`steadfast node --listen PATH`), so
 * other processes can attach to a running node: the same lines as on stdin/stdout (node.ts).
 *
 * Several clients at once, at most `clientsMax` (16 by default): each command's replies go to
 * the client that sent it; deliveries and other unsolicited lines (`broadcast`) go to every
 * client attached at that moment. A client beyond the limit gets one error line
 * (`{"type":"error","code":"too-many-clients"}`) and is disconnected.
 *
 * Bounds: a line longer than `lineBytesMax` (1 MiB) is answered with an error line
 * (`line-too-long`) and skipped up to its newline; a client that does not read its output, so
 * that more than `outputBytesMax` (8 MiB) wait in its socket buffer, is disconnected (counted in
 * `stats().slowClientsDropped`): a stuck reader never grows the node's memory without bound.
 * A malformed line is the caller's to answer (node.ts: an error line); a client's socket error or
 * hang-up only detaches that client. Nothing a client does throws out of this module.
 *
 * The socket path: created at `start`; a stale socket file left by a killed node is replaced,
 * but a path where another process still accepts connections, or that is not a socket, is
 * refused (`SteadfastError('bad-argument')`). Removed at `close`. Anyone who can connect can
 * command the node: put the socket in a directory only its user can reach.
 */

import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { SteadfastError } from '../core/errors.ts';

export interface LineClient {
  /** Writes one JSON line to this client (dropped if it has gone). */
  write(obj: unknown): void;
  readonly open: boolean;
}

export interface LineServerOptions {
  readonly path: string;
  /** One complete line from a client (without its newline). */
  readonly onLine: (line: string, client: LineClient) => void;
  /** Called as each client attaches, before its first line is read (the node greets it). */
  readonly onAttach?: (client: LineClient) => void;
  readonly clientsMax?: number;
  readonly lineBytesMax?: number;
  readonly outputBytesMax?: number;
}

export const LISTEN_CLIENTS_MAX = 16;
export const LINE_BYTES_MAX = 1024 * 1024;
export const OUTPUT_BYTES_MAX = 8 * 1024 * 1024;

type Options = Required<Omit<LineServerOptions, 'path' | 'onAttach'>>;

class Client implements LineClient {
  open = true;
  /** Bytes of the current, incomplete line. */
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** Skipping the rest of a line that was too long, up to its newline. */
  private skipping = false;

  constructor(
    private readonly socket: Socket,
    private readonly server: LineServer,
    private readonly opts: Options,
  ) {}

  write(obj: unknown): void {
    this.writeRaw(JSON.stringify(obj));
  }

  /** Writes one line already serialized (a broadcast serializes once for every client). */
  writeRaw(line: string): void {
    if (!this.open) return;
    this.socket.write(line + '\n');
    if (this.socket.writableLength > this.opts.outputBytesMax) {
      this.server.slowClientsDropped++;
      this.close();
    }
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.socket.destroy();
    this.server.detach(this);
  }

  /** Splits `chunk` into lines, bounded (module header). */
  data(chunk: Buffer): void {
    let from = 0;
    while (this.open && from < chunk.length) {
      const nl = chunk.indexOf(0x0a, from);
      const end = nl === -1 ? chunk.length : nl;
      if (!this.skipping) {
        const piece = chunk.subarray(from, end);
        if (this.partBytes + piece.length > this.opts.lineBytesMax) {
          this.parts = [];
          this.partBytes = 0;
          this.skipping = true;
          this.write({
            type: 'error',
            code: 'line-too-long',
            message: `a line is at most ${this.opts.lineBytesMax} bytes; skipped up to its newline`,
          });
        } else {
          this.parts.push(piece);
          this.partBytes += piece.length;
        }
      }
      if (nl === -1) break;
      if (!this.skipping) {
        const line = Buffer.concat(this.parts, this.partBytes).toString('utf8');
        this.parts = [];
        this.partBytes = 0;
        this.opts.onLine(line.endsWith('\r') ? line.slice(0, -1) : line, this);
      }
      this.skipping = false;
      from = nl + 1;
    }
  }
}

export class LineServer {
  private server: Server | undefined;
  private readonly clients = new Set<Client>();
  private readonly opts: Options;
  slowClientsDropped = 0;
  refusedClients = 0;

  constructor(private readonly options: LineServerOptions) {
    this.opts = {
      onLine: options.onLine,
      clientsMax: options.clientsMax ?? LISTEN_CLIENTS_MAX,
      lineBytesMax: options.lineBytesMax ?? LINE_BYTES_MAX,
      outputBytesMax: options.outputBytesMax ?? OUTPUT_BYTES_MAX,
    };
  }

  get path(): string {
    return this.options.path;
  }

  /** Clients attached now. */
  get size(): number {
    return this.clients.size;
  }

  /** Listens at the path (module header: a stale socket is replaced). */
  async start(): Promise<void> {
    const path = this.options.path;
    if (existsSync(path)) {
      if (!lstatSync(path).isSocket()) {
        throw new SteadfastError('bad-argument', `--listen ${path}: exists and is not a socket`);
      }
      if (await accepts(path)) {
        throw new SteadfastError(
          'bad-argument',
          `--listen ${path}: another process is listening there`,
        );
      }
      unlinkSync(path); // stale: its node is gone
    }
    const server = createServer((socket) => {
      this.attach(socket);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => {
      // After listening, a server error is about one connection attempt: nothing to do.
    });
  }

  /** Writes `obj` to every attached client. */
  broadcast(obj: unknown): void {
    if (this.clients.size === 0) return;
    const line = JSON.stringify(obj);
    for (const c of [...this.clients]) c.writeRaw(line);
  }

  detach(c: Client): void {
    this.clients.delete(c);
  }

  stats(): { clients: number; slowClientsDropped: number; refusedClients: number } {
    return {
      clients: this.clients.size,
      slowClientsDropped: this.slowClientsDropped,
      refusedClients: this.refusedClients,
    };
  }

  /** Disconnects every client, stops listening and removes the socket file. */
  async close(): Promise<void> {
    for (const c of [...this.clients]) c.close();
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
    try {
      unlinkSync(this.options.path);
    } catch {
      // already gone (server.close may remove it)
    }
  }

  private attach(socket: Socket): void {
    socket.on('error', () => {
      // A reset or broken pipe: the client is gone (the 'close' below detaches it).
    });
    if (this.clients.size >= this.opts.clientsMax) {
      this.refusedClients++;
      socket.end(
        JSON.stringify({
          type: 'error',
          code: 'too-many-clients',
          message: `at most ${this.opts.clientsMax} clients at once`,
        }) + '\n',
      );
      return;
    }
    const c = new Client(socket, this, this.opts);
    this.clients.add(c);
    try {
      this.options.onAttach?.(c);
    } catch {
      c.close(); // a greeting that cannot be written: this client only
    }
    socket.on('data', (chunk: Buffer) => {
      c.data(chunk);
    });
    socket.on('close', () => {
      c.close();
    });
  }
}

/** Whether some process accepts connections at `path` (a live socket, not a stale file). */
function accepts(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      resolve(false);
    });
  });
}
