// The bench's load-generator HTTP client (bench/http-client.ts) against a real node:http
// server on loopback: answers of every framing the bench can meet, connection reuse, a
// server that closes idle connections, a server that never answers, and the bound on
// connections.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpPool, HttpTransportError } from '../bench/http-client.ts';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

let server: Server;
let origin: string;
let handler: Handler = () => {};
const sockets = new Set<import('node:net').Socket>();

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => handler(req, body, res));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

const pool = (connectionsMax = 4, requestTimeoutMs = 5_000) =>
  new HttpPool(origin, { connectionsMax, requestTimeoutMs, connectTimeoutMs: 5_000 });

describe('the load generator HTTP client', () => {
  it('sends method, path, headers and body, and reads a content-length answer', async () => {
    handler = (req, body, res) => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ method: req.method, url: req.url, auth: req.headers.authorization, body }),
      );
    };
    const p = pool();
    const res = await p.request('POST', '/v1/events', 'authorization: Bearer t\r\n', '{"a":"ü"}');
    expect(res.status).toBe(201);
    expect(JSON.parse(res.body.toString('utf8'))).toEqual({
      method: 'POST',
      url: '/v1/events',
      auth: 'Bearer t',
      body: '{"a":"ü"}',
    });
    p.destroy();
  });

  it('reads a chunked answer and an empty 204', async () => {
    handler = (req, _body, res) => {
      if (req.url === '/empty') {
        res.writeHead(204);
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first,');
      setTimeout(() => res.end('second'), 5);
    };
    const p = pool();
    const chunked = await p.request('GET', '/chunked', '');
    expect(chunked.status).toBe(200);
    expect(chunked.body.toString()).toBe('first,second');
    const empty = await p.request('GET', '/empty', '');
    expect(empty.status).toBe(204);
    expect(empty.body.length).toBe(0);
    p.destroy();
  });

  it('reuses its connections and opens no more than connectionsMax, queueing the rest', async () => {
    let open = 0;
    let openMax = 0;
    handler = (_req, _body, res) => {
      open += 1;
      openMax = Math.max(openMax, open);
      setTimeout(() => {
        open -= 1;
        res.end('ok');
      }, 10);
    };
    const p = pool(3);
    const answers = await Promise.all(Array.from({ length: 30 }, () => p.request('GET', '/', '')));
    expect(answers.every((a) => a.status === 200 && a.body.toString() === 'ok')).toBe(true);
    expect(openMax).toBe(3);
    expect(p.size).toBe(3);
    p.destroy();
  });

  it('sends a request once more on a new connection when a reused one closes before answering', async () => {
    // The second request arrives on the kept-alive connection, which the server then drops
    // without a byte of answer (as a server closing an idle connection just as a request
    // is written); the resend comes on a new connection and is answered.
    const seen: { n: number; port: number | undefined }[] = [];
    handler = (req, _body, res) => {
      seen.push({ n: seen.length + 1, port: req.socket.remotePort });
      if (seen.length === 2) req.socket.destroy();
      else res.end(`answer ${seen.length}`);
    };
    const p = pool(1);
    expect((await p.request('GET', '/', '')).body.toString()).toBe('answer 1');
    const resent = await p.request('GET', '/', '');
    expect(resent.body.toString()).toBe('answer 3');
    expect(seen.map((s) => s.n)).toEqual([1, 2, 3]);
    expect(seen[1]?.port).toBe(seen[0]?.port);
    expect(seen[2]?.port).not.toBe(seen[1]?.port);
    p.destroy();
  });

  it('does not resend a request whose own new connection closed before answering', async () => {
    let requests = 0;
    handler = (req) => {
      requests += 1;
      req.socket.destroy();
    };
    const p = pool(1);
    const error = await p.request('GET', '/', '').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpTransportError);
    expect(requests).toBe(1);
    p.destroy();
  });

  it('fails a request the server never answers once its deadline passes', async () => {
    handler = () => {};
    const p = pool(1, 100);
    const error = await p.request('GET', '/', '').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpTransportError);
    expect((error as HttpTransportError).code).toBe('TIMEOUT');
    p.destroy();
  });

  it('fails what is queued and in flight when destroyed', async () => {
    handler = () => {};
    const p = pool(1);
    const inFlight = p.request('GET', '/', '').catch((e: unknown) => e);
    const queued = p.request('GET', '/', '').catch((e: unknown) => e);
    p.destroy();
    expect(((await inFlight) as HttpTransportError).code).toBe('EDESTROYED');
    expect(((await queued) as HttpTransportError).code).toBe('EDESTROYED');
  });
});
