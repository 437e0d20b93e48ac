// Starts the real authgate binary for the client's tests: a fresh database
// (created here, dropped by stop), a free port, short token lifetimes.
// AUTHGATE_TEST_DATABASE_URL says where PostgreSQL is (as for `make test`);
// AUTHGATE_BIN is the built binary (else it is built here, into .test-bin/).
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { AuthgateError } from '../dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const adminURL = process.env.AUTHGATE_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable';

let built;
/** binary returns AUTHGATE_BIN, or else builds the binary from this tree (once per process; Go's build cache makes it quick). */
export function binary() {
  if (process.env.AUTHGATE_BIN) return process.env.AUTHGATE_BIN;
  if (!built) {
    built = join(here, '..', '.test-bin', `authgate-${process.pid}`);
    mkdirSync(dirname(built), { recursive: true });
    execFileSync('go', ['build', '-o', built, '.'], { cwd: root, stdio: 'inherit' });
    process.on('exit', () => rmSync(built, { force: true }));
  }
  return built;
}

function psql(sql) {
  try {
    execFileSync('psql', [adminURL, '-qtAc', sql], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`PostgreSQL at AUTHGATE_TEST_DATABASE_URL (${adminURL}) refused "${sql}": ${String(e.stderr || e.message).trim()} — start PostgreSQL (make test does) or set AUTHGATE_TEST_DATABASE_URL`);
  }
}

/** freePort asks the kernel for a port nobody listens on. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * startServer runs authgate on a free port against a new database, with env
 * added to its environment (an object, or a function of the port that
 * returns one or a promise of one). It
 * resolves to { base, url, log(), stop() } once /healthz answers; stop kills
 * it and drops the database. dev runs `serve --dev`, whose mails are kept in
 * memory and listed at /dev/mail (see mails below).
 */
export async function startServer(env = {}, { dev = false } = {}) {
  const db = `authgate_client_${process.pid}_${randomBytes(4).toString('hex')}`;
  psql(`CREATE DATABASE ${db}`);
  const u = new URL(adminURL);
  u.pathname = '/' + db;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dataDir = dev ? mkdtempSync(join(tmpdir(), 'authgate-client-dev-')) : '';
  if (typeof env === 'function') env = await env(port);
  const child = spawn(binary(), dev ? ['serve', '--dev', '--data-dir', dataDir] : ['serve'], {
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: u.toString(),
      HASURA_GRAPHQL_JWT_SECRET: JSON.stringify({ type: 'HS256', key: randomBytes(32).toString('hex') }),
      AUTHGATE_REFRESH_TOKEN_SECRET: randomBytes(32).toString('hex'),
      AUTHGATE_ADDR: `127.0.0.1:${port}`,
      AUTHGATE_ARGON2_MEMORY_KIB: '1024',
      AUTHGATE_ARGON2_ITERATIONS: '1',
      AUTHGATE_LOG_LEVEL: 'warn',
      AUTHGATE_SIGNUP_IP_LIMIT: '0',
      AUTHGATE_LOGIN_IP_FREE_FAILURES: '1000',
      AUTHGATE_LOGIN_IP_MAX_FAILURES: '100000',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (d) => {
    log += d;
  });
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  const stop = async () => {
    if (!exited) {
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await done;
    }
    psql(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30000;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`authgate exited at start:\n${log}`);
    }
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`authgate did not answer /healthz within 30 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { base, url: `${base}/graphql`, db: u.toString(), log: () => log, stop };
}

/** gql posts one GraphQL request to url (with an optional bearer token) and returns the parsed answer. */
export async function gql(url, query, variables, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const r = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  return r.json();
}

/**
 * mail waits (up to 10 s) for the newest mail of template to `to` that
 * development mode kept (GET /dev/mail: the outbox worker delivered it) and
 * returns it ({ template, to, subject, text, link, code }); newer than skips
 * mails already seen (pass the one returned before).
 */
export async function mail(base, to, template, newerThan) {
  const deadline = Date.now() + 10000;
  for (;;) {
    const mails = await (await fetch(`${base}/dev/mail`, { headers: { Accept: 'application/json' } })).json();
    const m = mails.find((x) => x.to === to && x.template === template);
    if (m && (!newerThan || m.at !== newerThan.at || m.link !== newerThan.link)) return m;
    if (Date.now() > deadline) throw new Error(`no ${template} mail to ${to} within 10 s; kept: ${JSON.stringify(mails.map((x) => [x.to, x.template]))}`);
    await sleep(50);
  }
}

/** tokenOf reads the token (and type) an emailed link carries. */
export function tokenOf(link) {
  const u = new URL(link);
  return { token: u.searchParams.get('token'), type: u.searchParams.get('type') };
}

let builtOP;
/**
 * startTestOP runs the test OpenID provider (internal/oidc/oidctest/cmd/testop:
 * zitadel/oidc's provider and login form; users alice, bob, mallory with
 * password verysecure; client authgate / authgate-test-secret) on a free
 * port, knowing redirect as the client's redirect URI. It resolves to
 * { issuer, stop() }.
 */
export async function startTestOP(redirect) {
  if (!builtOP) {
    builtOP = join(here, '..', '.test-bin', `testop-${process.pid}`);
    mkdirSync(dirname(builtOP), { recursive: true });
    execFileSync('go', ['build', '-o', builtOP, './internal/oidc/oidctest/cmd/testop'], { cwd: root, stdio: 'inherit' });
    process.on('exit', () => rmSync(builtOP, { force: true }));
  }
  const port = await freePort();
  const child = spawn(builtOP, ['-addr', `127.0.0.1:${port}`, '-redirect', redirect], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const issuer = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`testop did not start within 30 s: ${out}`)), 30000);
    const read = (d) => {
      out += d;
      const m = /testop: issuer (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', (d) => (out += d));
    child.once('exit', (code) => reject(new Error(`testop exited (${code}): ${out}`)));
  });
  return {
    issuer,
    stop: async () => {
      if (child.exitCode === null) {
        const done = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await done;
      }
    },
  };
}

/**
 * Browser is the little of a browser a redirect flow needs: it follows
 * redirects itself, keeps cookies per host, and stops at the first URL under
 * stopAt (the app's page), which it returns.
 */
export class Browser {
  constructor() {
    this.jar = new Map();
  }

  async request(url, init = {}) {
    const u = new URL(url);
    const headers = new Headers(init.headers);
    const cookies = this.jar.get(u.host);
    if (cookies?.size) headers.set('Cookie', [...cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(u, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      if (!this.jar.has(u.host)) this.jar.set(u.host, new Map());
      const expired = /max-age=(0|-)/i.test(c);
      if (expired) this.jar.get(u.host).delete(pair.slice(0, i).trim());
      else this.jar.get(u.host).set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
    return res;
  }

  /** follow GETs url and its redirects until one leads under stopAt; returns that URL. */
  async follow(url, stopAt) {
    for (let i = 0; i < 20; i++) {
      if (url.startsWith(stopAt)) return url;
      const res = await this.request(url);
      const loc = res.headers.get('Location');
      if (!loc) return { status: res.status, url, body: await res.text() };
      url = new URL(loc, url).toString();
    }
    throw new Error('too many redirects');
  }

  /**
   * signInAtOP goes from url (authgate's start URL) through the test OP's
   * login form as user, and returns the URL authgate sent the browser back
   * to (under stopAt).
   */
  async signInAtOP(url, user, stopAt) {
    const page = await this.follow(url, 'never');
    if (typeof page === 'string' || page.status !== 200) throw new Error(`no login form: ${JSON.stringify(page).slice(0, 300)}`);
    const form = new URL(page.url);
    const id = form.searchParams.get('authRequestID');
    if (!id) throw new Error(`the login form names no auth request: ${page.url}`);
    const res = await this.request(new URL('/login/username', form).toString(), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: user, password: 'verysecure', id }).toString(),
    });
    const loc = res.headers.get('Location');
    if (!loc) throw new Error(`the OP did not redirect after the login: ${res.status} ${(await res.text()).slice(0, 300)}`);
    const back = await this.follow(new URL(loc, form).toString(), stopAt);
    if (typeof back !== 'string') throw new Error(`the flow did not come back to ${stopAt}: ${JSON.stringify(back).slice(0, 300)}`);
    return back;
  }
}

/** sleep waits ms of real time: the server under test runs on the real clock. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** refused resolves to the AuthgateError p rejects with; it fails the test when p resolves or rejects with anything else. */
export const refused = (p) => p.then(
  () => assert.fail('resolved, want a rejection'),
  (e) => {
    assert.ok(e instanceof AuthgateError, `an AuthgateError, got ${e}`);
    return e;
  },
);
