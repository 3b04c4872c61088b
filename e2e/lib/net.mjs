// What every JavaScript harness of the project shares: the e2e tests (e2e/lib/env.mjs), the
// deploy test (deploy/test/) and the benchmarks (bench/*.mjs). No packages and no side effects
// on import, so any of them can load it.
import { createServer } from 'node:net';
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns something truthy (returned), or null after `timeout` ms. */
export async function poll(fn, { timeout = 10000, interval = 50 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch { /* not yet */ }
    if (Date.now() > deadline) return null;
    await sleep(interval);
  }
}

/** `n` distinct free TCP ports on 127.0.0.1 (all held until all are known). */
export async function freePorts(n) {
  const servers = [];
  for (let i = 0; i < n; i++) {
    const s = createServer();
    s.unref();
    await new Promise((resolve, reject) => {
      s.on('error', reject);
      s.listen(0, '127.0.0.1', resolve);
    });
    servers.push(s);
  }
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** One free TCP port on 127.0.0.1. */
export async function freePort() {
  return (await freePorts(1))[0];
}

/** HTTP status of GET path on 127.0.0.1:port, plain HTTP; 0 when nothing answers. */
export async function httpStatus(port, path) {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2000) });
    await res.text();
    return res.status;
  } catch {
    return 0;
  }
}

/**
 * Waits until the gateway on `port` answers GET /readyz with 200 (its source is connected):
 * true, or false after `timeout` ms. `alive` (optional) is asked on every try; when it throws,
 * so does this (the process exited: no point waiting).
 */
export async function waitReady(port, { timeout = 10000, interval = 50, alive = () => true } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    alive();
    if (await httpStatus(port, '/readyz') === 200) return true;
    if (Date.now() > deadline) return false;
    await sleep(interval);
  }
}

/**
 * A bare WebSocket handshake request to the gateway at 127.0.0.1:port (RFC 6455 headers, a
 * fresh 16-byte key), not yet ended: the caller listens for 'upgrade' or 'response' and ends it.
 */
export function upgradeRequest(port) {
  return request({
    host: '127.0.0.1', port, path: '/v1/ws',
    headers: {
      Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    },
  });
}
