// lib.mjs: what the browser tests share: a fresh tinhso (temporary data
// directory, init, demo, serve on a free loopback port) with tinhso-sim as its
// payment gateway, Debian's Chromium driven by playwright-core, axe-core for
// WCAG 2.1 AA, screenshots, TOTP codes and small page helpers.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '..', '..');
export const BUILD = path.resolve(ROOT, process.env.TINHSO_BUILD || 'build');
export const BIN = process.env.TINHSO_BIN || path.join(BUILD, 'tinhso');
export const SIM_BIN = process.env.TINHSO_SIM_BIN || path.join(path.dirname(BIN), 'tinhso-sim');
export const ARTIFACTS = path.join(here, 'artifacts');
export const DEMO_PASSWORD = 'HaiDuong@2021';
export const DEMO_ADMIN_TOTP = 'TINHSODEMOADMIN2TINHSODEMOADMIN2';
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PAYMENT_SECRET = 'browser-test-payment-secret';

fs.mkdirSync(ARTIFACTS, { recursive: true });

function waitForLine(proc, re, what, timeoutMs = 20000) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${buf}`)), timeoutMs);
    proc.stdout.on('data', (d) => {
      buf += d.toString();
      const m = buf.match(re);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}: ${buf}`));
    });
  });
}

/** Starts tinhso-sim and a fresh demo tinhso that uses it. */
export async function startServers() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tinhso-browser-'));
  const sim = spawn(SIM_BIN, ['--listen', '127.0.0.1:0', '--payment-secret', PAYMENT_SECRET], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const sm = await waitForLine(sim, /http:\/\/127\.0\.0\.1:(\d+)/, 'tinhso-sim');
  const simUrl = `http://127.0.0.1:${sm[1]}`;
  const env = {
    ...process.env,
    TINHSO_DB: 'sqlite:' + path.join(tmp, 'tinhso.db'),
    TINHSO_DATA: path.join(tmp, 'data'),
    TINHSO_ARGON2_OPS: '1',
    TINHSO_ARGON2_MEM_KIB: '8192',
    TINHSO_LOG_LEVEL: 'warn',
    TINHSO_SIM_URL: simUrl,
    TINHSO_PAYMENT_SECRET: PAYMENT_SECRET,
  };
  for (const cmd of [['init'], ['demo']]) {
    const r = spawnSync(BIN, cmd, { env, encoding: 'utf8', cwd: ROOT });
    if (r.status !== 0) throw new Error(`tinhso ${cmd.join(' ')} failed: ${r.stderr}`);
  }
  const log = fs.openSync(path.join(tmp, 'server.log'), 'a');
  const srv = spawn(BIN, ['serve', '--listen', '127.0.0.1:0'], { env, cwd: ROOT, stdio: ['ignore', 'pipe', log] });
  const m = await waitForLine(srv, /http:\/\/127\.0\.0\.1:(\d+)/, 'tinhso serve');
  const base = `http://127.0.0.1:${m[1]}`;
  return {
    base,
    simUrl,
    tmp,
    log: path.join(tmp, 'server.log'),
    async stop() {
      for (const p of [srv, sim]) {
        if (p.exitCode === null) {
          p.kill('SIGTERM');
          await new Promise((r) => {
            const t = setTimeout(() => { p.kill('SIGKILL'); r(); }, 10000);
            p.on('exit', () => { clearTimeout(t); r(); });
          });
        }
      }
      fs.closeSync(log);
      if (!process.env.KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}

/** Debian's Chromium, headless, in a fresh temporary profile (playwright makes one per launch). */
export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

/** A browser context: Vietnamese by default, JavaScript on or off. */
export async function newContext(browser, { js = true, width = 1280, locale = 'vi-VN' } = {}) {
  const ctx = await browser.newContext({
    javaScriptEnabled: js,
    viewport: { width, height: 900 },
    locale,
    acceptDownloads: true,
  });
  ctx.setDefaultTimeout(20000);
  return ctx;
}

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s) of a base32 secret. */
export function totp(secret, step = Math.floor(Date.now() / 30000)) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const mac = crypto.createHmac('sha1', Buffer.from(bytes)).update(msg).digest();
  const off = mac[mac.length - 1] & 15;
  const code = (mac.readUInt32BE(off) & 0x7fffffff) % 1000000;
  return String(code).padStart(6, '0');
}

/** Logs in through the form; returns after the redirect. */
export async function login(page, base, username, password, code) {
  await page.goto(base + '/dang-nhap' + (code ? '?totp=1' : ''));
  await page.fill('#username', username);
  await page.fill('#password', password);
  if (code) await page.fill('#totp', code);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/dang-nhap')), page.click('form[action="/dang-nhap"] button[type=submit]')]);
}

let axeSource;
/** Runs axe-core (WCAG 2.0/2.1 A and AA rules) on the page; returns the violations. */
export async function axe(page) {
  if (!axeSource) axeSource = fs.readFileSync(path.join(here, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
  // evaluated through the DevTools protocol: the page's CSP does not apply
  await page.evaluate(axeSource);
  const res = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ') + ' :: ' + n.failureSummary).slice(0, 5) }));
  });
  return res;
}

/** Full-page screenshots at 360 and 1280 px into artifacts/<name>-<width>.png. */
export async function screenshots(page, name) {
  const size = page.viewportSize();
  for (const width of [360, 1280]) {
    await page.setViewportSize({ width, height: 900 });
    await page.screenshot({ path: path.join(ARTIFACTS, `${name}-${width}.png`), fullPage: true });
  }
  await page.setViewportSize(size);
}

/** A small valid PDF (the server checks files by their content). */
export function pdfFile(dir, name) {
  const body = '%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj ' +
    '3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n';
  const p = path.join(dir, name);
  fs.writeFileSync(p, body);
  return p;
}

/** A random, valid 12-digit CCCD (province code 030: Hải Dương). */
export function randomCccd() {
  return '030' + String(Math.floor(Math.random() * 1e9)).padStart(9, '0');
}

/** Reads a download fully and returns its bytes. */
export async function downloadBytes(download) {
  const p = await download.path();
  return fs.readFileSync(p);
}
