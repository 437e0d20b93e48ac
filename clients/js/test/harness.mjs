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
 * added to its environment (a function of the port, or an object). It
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
  if (typeof env === 'function') env = env(port);
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

/** sleep waits ms of real time: the server under test runs on the real clock. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
