// Helpers of the browser tests: a real terrarium server on a free loopback
// port with a fresh data directory, HTTP to it, and headless Debian chromium
// driven by playwright-core (never a downloaded browser).
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export function tmpdir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// Run `terrarium ARGS...`; stdout as a string.
export function cli(bin, args) {
  return execFileSync(bin, args, { encoding: 'utf8', timeout: 30000, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function makeToken(bin, data, scope) {
  const out = cli(bin, ['token', 'create', '--data', data, '--scope', scope, '--label', 'browser-test']);
  const t = out.trim().split('\n').pop().trim();
  if (!/^trm_/.test(t)) throw new Error(`token create printed no token: ${out}`);
  return t;
}

// Start `terrarium serve --listen 127.0.0.1:0`, read the port from its log.
export async function startServer(bin, data, config) {
  const logPath = path.join(data, '..', 'server.log');
  const log = fs.openSync(logPath, 'w');
  const args = ['serve', '--listen', '127.0.0.1:0', '--data', data];
  if (config) args.push('--config', config);
  const child = spawn(bin, args, { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  let exited = null;
  child.on('exit', (code, sig) => { exited = { code, sig }; });
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`terrarium exited (${JSON.stringify(exited)}):\n${fs.readFileSync(logPath, 'utf8')}`);
    const m = fs.readFileSync(logPath, 'utf8').match(/msg=listening addr=127\.0\.0\.1:(\d+)/);
    if (m) {
      const base = `http://127.0.0.1:${m[1]}`;
      for (let i = 0; i < 50; i++) {
        try { if ((await fetch(base + '/healthz')).ok) return { child, base, logPath }; } catch { /* not yet */ }
        await sleep(100);
      }
    }
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error('terrarium did not start in 15 s:\n' + fs.readFileSync(logPath, 'utf8'));
}

// SIGTERM (SIGKILL after 10 s); resolves to { code, signal } of the exit.
export async function stopServer(srv) {
  if (!srv) return null;
  if (srv.child.exitCode !== null || srv.child.signalCode !== null)
    return { code: srv.child.exitCode, signal: srv.child.signalCode };
  const done = new Promise((r) => srv.child.once('exit', (code, signal) => r({ code, signal })));
  srv.child.kill('SIGTERM');
  const t = setTimeout(() => srv.child.kill('SIGKILL'), 10000);
  const st = await done;
  clearTimeout(t);
  return st;
}

export async function http(base, method, p, body, tok) {
  const headers = {};
  if (tok) headers.Authorization = 'Bearer ' + tok;
  if (body !== undefined && typeof body !== 'string') headers['Content-Type'] = 'application/json';
  const r = await fetch(base + p, { method, headers, body: body === undefined ? undefined
    : typeof body === 'string' ? body : JSON.stringify(body), signal: AbortSignal.timeout(15000) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, json, text, headers: r.headers };
}

export async function launch(userDataDir) {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 800 },
    timeout: 30000,
  });
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// Poll FN until it returns a truthy value or MS pass.
export async function until(fn, ms, what) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try { last = await fn(); } catch (e) { last = e; }
    if (last && !(last instanceof Error)) return last;
    await sleep(100);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last instanceof Error ? ': ' + last.message : ''}`);
}

export function assert(cond, msg) {
  if (!cond) throw new Error('assertion failed: ' + msg);
}

export function eq(a, b, msg) {
  if (a !== b) throw new Error(`${msg}: expected ${JSON.stringify(b)}, got ${JSON.stringify(a)}`);
}
