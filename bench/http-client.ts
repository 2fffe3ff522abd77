// The load generator's HTTP/1.1 client: keep-alive connections, one request in flight on
// each, a queue when all are busy. It does only what the bench needs (no redirects, no
// pipelining, no compression), so that the generator leaves the CPU to Patron: on the
// 2-core machine the generator shares with Patron and PostgreSQL, undici's Pool spent
// 64-73 µs of CPU per single-event request in the closed loop of 64 connections and this
// client 28-31 µs, which Patron and PostgreSQL then had (alternating runs).
//
// Every request has a deadline; a connection that fails, times out or answers out of turn
// is destroyed, never reused. A request that fails on a reused connection before any byte
// of its answer came is sent once more on a new one: the server may have closed the idle
// connection just as it was written (every request the bench sends is idempotent).

import { connect, type Socket } from 'node:net';

export interface HttpResponse {
  status: number;
  body: Buffer;
}

export interface HttpPoolOptions {
  connectionsMax: number;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
}

/** A failure of the transport (no HTTP answer): `code` names it, as node's errors do. */
export class HttpTransportError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Answers larger than this are refused: the bench's largest is a batch's 500 results. */
const RESPONSE_BYTES_MAX = 16 * 1024 * 1024;
const HEADER_END = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');

interface Pending {
  text: string;
  resolve: (response: HttpResponse) => void;
  reject: (error: Error) => void;
  retried: boolean;
}

/** The response being read on one connection. */
class Reader {
  private chunks: Buffer[] = [];
  private length = 0;
  private status = 0;
  /** Where the body starts, once the head has been read. */
  private bodyStart = -1;
  private contentLength = -1;
  private chunked = false;
  closeAfter = false;

  get started(): boolean {
    return this.length > 0;
  }

  /** Adds bytes; answers the response once it is complete, throws on a malformed one. */
  push(chunk: Buffer): HttpResponse | undefined {
    this.chunks.push(chunk);
    this.length += chunk.length;
    if (this.length > RESPONSE_BYTES_MAX) throw new Error('response too large');
    const all = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks, this.length);
    this.chunks = [all];
    if (this.bodyStart < 0 && !this.readHead(all)) return undefined;
    if (this.chunked) return this.readChunked(all);
    if (this.contentLength < 0) throw new Error('response without content-length');
    const end = this.bodyStart + this.contentLength;
    if (all.length < end) return undefined;
    if (all.length > end) throw new Error('bytes after the response');
    return { status: this.status, body: all.subarray(this.bodyStart, end) };
  }

  private readHead(all: Buffer): boolean {
    const headEnd = all.indexOf(HEADER_END);
    if (headEnd < 0) return false;
    const lines = all.subarray(0, headEnd).toString('latin1').split('\r\n');
    const statusLine = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (!statusLine) throw new Error(`not an HTTP/1.1 status line: ${lines[0]}`);
    this.status = Number(statusLine[1]);
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line
        .slice(colon + 1)
        .trim()
        .toLowerCase();
      if (name === 'content-length') this.contentLength = Number(value);
      else if (name === 'transfer-encoding') this.chunked = value.includes('chunked');
      else if (name === 'connection') this.closeAfter = value.includes('close');
    }
    this.bodyStart = headEnd + HEADER_END.length;
    // A 204 or 304 has no body whatever its headers say.
    if (this.status === 204 || this.status === 304) {
      this.chunked = false;
      this.contentLength = 0;
    }
    return true;
  }

  private readChunked(all: Buffer): HttpResponse | undefined {
    const parts: Buffer[] = [];
    let at = this.bodyStart;
    for (;;) {
      const lineEnd = all.indexOf(CRLF, at);
      if (lineEnd < 0) return undefined;
      const size = parseInt(all.subarray(at, lineEnd).toString('latin1'), 16);
      if (!Number.isFinite(size) || size < 0) throw new Error('malformed chunk size');
      const dataStart = lineEnd + CRLF.length;
      if (size === 0) {
        // No trailers are expected: the last chunk is followed by an empty line.
        if (all.length < dataStart + CRLF.length) return undefined;
        if (all.length > dataStart + CRLF.length) throw new Error('bytes after the response');
        return { status: this.status, body: Buffer.concat(parts) };
      }
      if (all.length < dataStart + size + CRLF.length) return undefined;
      parts.push(all.subarray(dataStart, dataStart + size));
      at = dataStart + size + CRLF.length;
    }
  }
}

class Connection {
  readonly socket: Socket;
  /** Answered at least one request: a failure before any answer byte may be a stale close. */
  reused = false;
  private current: { pending: Pending; reader: Reader; timer: NodeJS.Timeout } | undefined;
  private dead = false;

  constructor(
    port: number,
    host: string,
    private readonly pool: HttpPool,
    private readonly options: HttpPoolOptions,
  ) {
    this.socket = connect({ port, host, noDelay: true });
    const connectTimer = setTimeout(
      () => this.fail(new HttpTransportError('CONNECT_TIMEOUT', 'connect timed out')),
      options.connectTimeoutMs,
    );
    this.socket.once('connect', () => clearTimeout(connectTimer));
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(connectTimer);
      this.fail(new HttpTransportError(error.code ?? 'ESOCKET', error.message));
    });
    this.socket.on('close', () => {
      clearTimeout(connectTimer);
      this.fail(new HttpTransportError('ECONNRESET', 'the server closed the connection'));
    });
  }

  get busy(): boolean {
    return this.current !== undefined;
  }

  send(pending: Pending): void {
    const timer = setTimeout(
      () => this.fail(new HttpTransportError('TIMEOUT', 'no answer in time'), true),
      this.options.requestTimeoutMs,
    );
    this.current = { pending, reader: new Reader(), timer };
    this.socket.write(pending.text);
  }

  private onData(chunk: Buffer): void {
    const current = this.current;
    if (!current) {
      this.fail(new HttpTransportError('EPROTO', 'bytes while no request was in flight'));
      return;
    }
    let response: HttpResponse | undefined;
    try {
      response = current.reader.push(chunk);
    } catch (error) {
      this.fail(new HttpTransportError('EPROTO', (error as Error).message), true);
      return;
    }
    if (!response) return;
    clearTimeout(current.timer);
    this.current = undefined;
    this.reused = true;
    current.pending.resolve(response);
    if (current.reader.closeAfter) this.fail(undefined);
    else this.pool.released(this);
  }

  /** Ends this connection; the request in flight, if any, fails or is retried once. */
  fail(error: Error | undefined, final = false): void {
    if (this.dead) return;
    this.dead = true;
    this.socket.destroy();
    const current = this.current;
    this.current = undefined;
    this.pool.removed(this);
    if (!current) return;
    clearTimeout(current.timer);
    const error_ = error ?? new HttpTransportError('ECONNRESET', 'connection closed');
    if (!final && this.reused && !current.reader.started && !current.pending.retried) {
      current.pending.retried = true;
      this.pool.enqueue(current.pending);
    } else {
      current.pending.reject(error_);
    }
  }
}

export class HttpPool {
  private readonly port: number;
  private readonly host: string;
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private readonly queue: Pending[] = [];
  private destroyed = false;

  constructor(
    origin: string,
    private readonly options: HttpPoolOptions,
  ) {
    const url = new URL(origin);
    if (url.protocol !== 'http:') throw new Error(`HttpPool speaks plain HTTP, not ${origin}`);
    this.host = url.hostname;
    this.port = Number(url.port || 80);
  }

  /**
   * Sends one request. `headers` are complete header lines (each ending in CRLF) besides
   * host and content-length, which are added here.
   */
  request(method: string, path: string, headers: string, body?: string): Promise<HttpResponse> {
    if (this.destroyed) return Promise.reject(new HttpTransportError('EDESTROYED', 'pool closed'));
    const length = body === undefined ? '' : `content-length: ${Buffer.byteLength(body)}\r\n`;
    const text = `${method} ${path} HTTP/1.1\r\nhost: ${this.host}:${this.port}\r\n${headers}${length}\r\n${body ?? ''}`;
    return new Promise((resolve, reject) => {
      this.enqueue({ text, resolve, reject, retried: false });
    });
  }

  /** Closes every connection; requests in flight or queued fail. */
  destroy(): void {
    this.destroyed = true;
    for (const pending of this.queue.splice(0)) {
      pending.reject(new HttpTransportError('EDESTROYED', 'pool closed'));
    }
    for (const connection of [...this.all]) {
      connection.fail(new HttpTransportError('EDESTROYED', 'pool closed'), true);
    }
  }

  /** Open connections (tests). */
  get size(): number {
    return this.all.size;
  }

  enqueue(pending: Pending): void {
    if (this.destroyed) {
      pending.reject(new HttpTransportError('EDESTROYED', 'pool closed'));
      return;
    }
    const connection = this.idle.pop() ?? this.open();
    if (connection) connection.send(pending);
    else this.queue.push(pending);
  }

  released(connection: Connection): void {
    const next = this.queue.shift();
    if (next) connection.send(next);
    else this.idle.push(connection);
  }

  removed(connection: Connection): void {
    this.all.delete(connection);
    const at = this.idle.indexOf(connection);
    if (at >= 0) this.idle.splice(at, 1);
    // A queued request takes the place of the connection that went away.
    const next = this.destroyed ? undefined : this.queue.shift();
    if (next) this.enqueue(next);
  }

  private open(): Connection | undefined {
    if (this.all.size >= this.options.connectionsMax) return undefined;
    const connection = new Connection(this.port, this.host, this, this.options);
    this.all.add(connection);
    return connection;
  }
}
