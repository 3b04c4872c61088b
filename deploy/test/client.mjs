// The client side of the deploy test (deploy/test/deploy.test.mjs): what a browser and an operator
// do through a proxy (nginx or HAProxy) in front of two gateways that read the same Redis stream.
// Nothing here starts a server; everything speaks to what deploy.test.mjs started.
//
//   Redis       just enough RESP for XADD
//   httpReq     one HTTP request, or a raw WebSocket handshake, through the proxy (TLS)
//   WsClient    a WebSocket client that behaves as the browser module does: on a close it waits
//               a random 0-1 s (more after failures) and reconnects with ?since=<last id>
//   metric, clientsPerGateway   the gateways' own /metrics, bypassing the proxy
//
// No npm packages: the WebSocket framing is written out (RFC 6455, client side), so that each
// client can connect from its own local address (127.0.x.y): the gateways see the client's
// address through X-Forwarded-For and count sockets per address.
import { connect } from 'node:net';
import { request } from 'node:https';
import { randomBytes } from 'node:crypto';

// The helpers every JavaScript harness shares (free ports, polling, /readyz) live in e2e/lib/net.mjs.
import { sleep, poll } from '../../e2e/lib/net.mjs';

export { sleep };
/** Polls fn until it returns something truthy (returned), or null after `timeout` ms. */
export const waitFor = poll;

// --- Redis: just enough RESP for XADD -----------------------------------------------------

export class Redis {
  constructor(port) {
    this.port = port;
    this.buf = Buffer.alloc(0);
    this.waiting = [];
  }

  open() {
    return new Promise((resolve, reject) => {
      this.sock = connect(this.port, '127.0.0.1', resolve);
      this.sock.on('error', reject);
      this.sock.on('data', (d) => {
        this.buf = Buffer.concat([this.buf, d]);
        this.parse();
      });
    });
  }

  // Replies to XADD are one line (+, -, :) or one bulk string ($).
  parse() {
    for (;;) {
      const eol = this.buf.indexOf('\r\n');
      if (eol < 0) return;
      const type = String.fromCharCode(this.buf[0]);
      const line = this.buf.subarray(1, eol).toString();
      let value;
      let used;
      if (type === '$') {
        const len = Number(line);
        if (len < 0) {
          value = null;
          used = eol + 2;
        } else {
          if (this.buf.length < eol + 2 + len + 2) return;
          value = this.buf.subarray(eol + 2, eol + 2 + len).toString();
          used = eol + 2 + len + 2;
        }
      } else {
        value = type === '-' ? new Error(line) : line;
        used = eol + 2;
      }
      this.buf = this.buf.subarray(used);
      const w = this.waiting.shift();
      if (value instanceof Error) w.reject(value);
      else w.resolve(value);
    }
  }

  cmd(...args) {
    const parts = [`*${args.length}\r\n`];
    for (const a of args) parts.push(`$${Buffer.byteLength(a)}\r\n${a}\r\n`);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.sock.write(parts.join(''));
    });
  }

  close() {
    this.sock.end();
  }
}

/** Publishes test events to the stream, in order, remembering each one's id and time. */
export class Publisher {
  constructor(redis, streamKey, label) {
    this.redis = redis;
    this.streamKey = streamKey;
    this.label = label;
    this.ids = [];
    this.at = [];
  }

  title(i) {
    return `Deploy test ${this.label} ${i}`;
  }

  async publish() {
    const i = this.ids.length + 1;
    const event = {
      type: 'edit', page_title: this.title(i), user_name: 'DeployTest',
      timestamp: new Date().toISOString(), summary: `event ${i}`, wiki: 'deploytest', namespace: 0, rev_id: i,
    };
    const id = await this.redis.cmd('XADD', this.streamKey, 'MAXLEN', '~', '10000', '*', 'event', JSON.stringify(event));
    this.ids.push(id);
    this.at.push(Date.now());
    return id;
  }

  /** Publishes every `ms` until stop() is called; resolves when stopped. */
  start(ms) {
    this.running = true;
    this.done = (async () => {
      while (this.running) {
        await this.publish();
        await sleep(ms);
      }
    })();
  }

  async stop() {
    this.running = false;
    await this.done;
  }
}

// --- WebSocket framing (client side: frames to the server are masked) -----------------------

function frame(opcode, payload = Buffer.alloc(0)) {
  const mask = randomBytes(4);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len])
    : Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff]);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= mask[i % 4];
  return Buffer.concat([head, mask, body]);
}

/** Splits the server's frames off `buf`: [{opcode, payload}], and what is left over. */
function parseFrames(buf) {
  const frames = [];
  for (;;) {
    if (buf.length < 2) break;
    let len = buf[1] & 0x7f;
    let at = 2;
    if (len === 126) {
      if (buf.length < 4) break;
      len = buf.readUInt16BE(2);
      at = 4;
    } else if (len === 127) {
      if (buf.length < 10) break;
      len = Number(buf.readBigUInt64BE(2));
      at = 10;
    }
    if (buf.length < at + len) break;
    frames.push({ opcode: buf[0] & 0x0f, payload: buf.subarray(at, at + len) });
    buf = buf.subarray(at + len);
  }
  return { frames, rest: buf };
}

/** A close frame's payload as {code, reason}. */
function closeOf(payload) {
  return payload.length >= 2 ? { code: payload.readUInt16BE(0), reason: payload.subarray(2).toString() }
    : { code: 1005, reason: '' };
}

// --- HTTP through the proxy ----------------------------------------------------------------

/** The certificate (PEM) the proxies present; made by the test, trusted by every request here. */
let trusted;
export function trust(pem) {
  trusted = pem;
}

/**
 * One request to `base` (https://host:port). With `upgrade`, a raw WebSocket handshake:
 * resolves {status: 101, socket, protocol} when upgraded (the socket stays open), else
 * {status, body}. The socket is paused, `head` is what came right behind the 101. With
 * `firstFrame` as well, waits for the first frame after a 101 and adds it
 * as `first` ({opcode, text} or {opcode: 8, code, reason}), then closes the socket (unless
 * `keepOpen` and the first frame is not a close: a client that was admitted, held open).
 */
export function httpReq(base, path, { headers = {}, localAddress, upgrade = false, firstFrame = false, keepOpen = false } = {}) {
  const u = new URL(base);
  const h = { ...headers };
  if (upgrade) {
    Object.assign(h, {
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    });
  }
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, headers: h, localAddress, agent: false, ca: trusted });
    req.setTimeout(5000, () => req.destroy(new Error(`${path}: no answer in 5 s`)));
    req.on('upgrade', (res, socket, head) => {
      socket.on('error', () => {});
      const result = { status: res.statusCode, socket, protocol: res.headers['sec-websocket-protocol'] };
      if (!firstFrame) {
        // Paused: the caller reads it (starting with `head`, what came with the 101) or not.
        resolve({ ...result, head });
        return;
      }
      let buf = Buffer.from(head);
      const take = () => {
        const { frames } = parseFrames(buf);
        if (!frames.length) return false;
        const f = frames[0];
        result.first = f.opcode === 8 ? { opcode: 8, ...closeOf(f.payload) } : { opcode: f.opcode, text: f.payload.toString() };
        if (f.opcode === 8) socket.end(frame(8, f.payload.subarray(0, 2)));
        else if (!keepOpen) socket.end(frame(8, Buffer.from([0x03, 0xe8])));
        resolve(result);
        return true;
      };
      if (take()) return;
      socket.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        take();
      });
      socket.on('close', () => resolve(result));
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

export async function metric(port, name) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

/** Clients per gateway ({name: count, or null when not running}), from their own /metrics. */
export async function clientsPerGateway(gateways) {
  const out = {};
  for (const g of gateways) {
    try {
      out[g.name] = await metric(g.port, 'rtn_clients_connected');
    } catch {
      out[g.name] = null; // not running
    }
  }
  return out;
}

// --- The WebSocket client ------------------------------------------------------------------

/**
 * A client as the browser module is one: one socket; on a close it reconnects after a random
 * delay of up to 1 s (doubling after each failed attempt, as connection.js does), with
 * ?since=<last id it saw>. Every connection is recorded: {since, status, protocol, hello,
 * helloAt, resumedAt, closedAt, code, lastEvent}.
 */
export class WsClient {
  constructor(base, { localAddress, protocols = ['realtimenotify.v1'], headers = {} } = {}) {
    this.base = base;
    this.localAddress = localAddress;
    this.protocols = protocols;
    this.headers = headers;
    this.events = []; // every event frame, in arrival order
    this.frames = []; // every other frame, with the index of its connection
    this.connections = [];
    this.lastId = null;
    this.attempt = 0;
    this.closing = false;
  }

  connect() {
    const path = this.lastId ? `/v1/ws?since=${this.lastId}` : '/v1/ws';
    const c = { since: this.lastId, status: null, protocol: null, hello: null, code: null, startedAt: Date.now() };
    this.connections.push(c);
    const headers = { ...this.headers, 'Sec-WebSocket-Protocol': this.protocols.join(', ') };
    httpReq(this.base, path, { headers, localAddress: this.localAddress, upgrade: true }).then((r) => {
      c.status = r.status;
      if (r.status !== 101) {
        c.body = r.body;
        this.closed(c, 1006);
        return;
      }
      c.protocol = r.protocol;
      this.socket = r.socket;
      let buf = Buffer.alloc(0);
      let code = 1006;
      const take = (d) => {
        buf = Buffer.concat([buf, d]);
        const { frames, rest } = parseFrames(buf);
        buf = rest;
        for (const f of frames) {
          if (f.opcode === 1) this.onText(c, JSON.parse(f.payload.toString()));
          else if (f.opcode === 9) r.socket.write(frame(10, f.payload));
          else if (f.opcode === 8) {
            code = closeOf(f.payload).code;
            r.socket.end(frame(8, f.payload.subarray(0, 2)));
          }
        }
      };
      r.socket.on('data', take);
      r.socket.on('close', () => this.closed(c, code));
      take(r.head);
    }, () => this.closed(c, 1006));
  }

  onText(c, f) {
    if (f.op === 'hello') {
      c.hello = f;
      c.helloAt = Date.now();
      this.attempt = 0;
    } else if (f.op === 'event') {
      this.events.push(f);
      this.lastId = f.id;
      c.lastEvent = f.id;
    } else {
      if (f.op === 'resumed') c.resumedAt = Date.now();
      this.frames.push({ ...f, connection: this.connections.indexOf(c) });
    }
  }

  closed(c, code) {
    if (c.closedAt) return;
    c.code = code;
    c.closedAt = Date.now();
    if (this.closing) return;
    // connection.js: a random delay up to BASE_DELAY * 2^attempt (1 s at first), capped.
    const delay = Math.random() * Math.min(30000, 1000 * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 16);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  /** The connection now open (hello received, not closed), if any. */
  open() {
    const c = this.connections.at(-1);
    return c && c.hello && !c.closedAt ? c : null;
  }

  close() {
    this.closing = true;
    clearTimeout(this.timer);
    this.socket?.end(frame(8, Buffer.from([0x03, 0xe8])));
  }
}
