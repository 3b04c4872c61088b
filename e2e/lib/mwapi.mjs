// A minimal MediaWiki Action API client for node (fetch + a cookie jar): login, CSRF, edit.
import { USERS } from './env.mjs';

export class MwApi {
  constructor(wiki) {
    this.api = `${wiki}/api.php`;
    this.cookies = new Map();
  }

  /** params: strings, or Blobs (files: then the request is a multipart POST). */
  async request(params, { post = false } = {}) {
    const all = { format: 'json', formatversion: '2', ...params };
    const multipart = Object.values(all).some((v) => v instanceof Blob);
    let body = new URLSearchParams();
    if (multipart) {
      body = new FormData();
      for (const [k, v] of Object.entries(all)) body.append(k, v, ...(v instanceof Blob ? [k] : []));
    } else {
      for (const [k, v] of Object.entries(all)) body.append(k, v);
    }
    const headers = { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
    const res = post || multipart
      ? await fetch(this.api, { method: 'POST', body, headers })
      : await fetch(`${this.api}?${body}`, { headers });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      if (value === 'deleted' || /expires=Thu, 01 Jan 1970/i.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await res.text();
    try {
      return JSON.parse(text);
    } catch {
      throw new Error(`api.php answered ${res.status} with non-JSON: ${text.slice(0, 500)}`);
    }
  }

  async token(type) {
    const r = await this.request({ action: 'query', meta: 'tokens', type });
    return r.query.tokens[`${type}token`];
  }

  async login(user, password = USERS[user]) {
    const r = await this.request({
      action: 'clientlogin', username: user, password,
      logintoken: await this.token('login'), loginreturnurl: 'http://127.0.0.1/',
    }, { post: true });
    if (r.clientlogin?.status !== 'PASS') throw new Error(`login as ${user} failed: ${JSON.stringify(r)}`);
    return this;
  }

  /** action=edit; returns the API's edit result (result: 'Success', newrevid, ...). */
  async edit(title, text, summary) {
    const r = await this.request({
      action: 'edit', title, text, summary, token: await this.token('csrf'),
    }, { post: true });
    if (!r.edit) throw new Error(`edit of ${title} failed: ${JSON.stringify(r)}`);
    return r.edit;
  }

  /** action=move (with a redirect left behind); returns the API's move result. */
  async move(from, to, reason) {
    const r = await this.request({ action: 'move', from, to, reason, token: await this.token('csrf') }, { post: true });
    if (!r.move) throw new Error(`move of ${from} failed: ${JSON.stringify(r)}`);
    return r.move;
  }

  /** action=delete; returns the API's delete result. */
  async delete(title, reason) {
    const r = await this.request({ action: 'delete', title, reason, token: await this.token('csrf') }, { post: true });
    if (!r.delete) throw new Error(`deletion of ${title} failed: ${JSON.stringify(r)}`);
    return r.delete;
  }

  /** action=upload of `bytes` as File:filename; returns the API's upload result. */
  async upload(filename, bytes, comment, type = 'image/png') {
    const r = await this.request({
      action: 'upload', filename, comment, ignorewarnings: '1', token: await this.token('csrf'),
      file: new Blob([bytes], { type }),
    });
    if (r.upload?.result !== 'Success') throw new Error(`upload of ${filename} failed: ${JSON.stringify(r)}`);
    return r.upload;
  }
}
