// a11y.test.mjs: axe-core (WCAG 2.0 and 2.1, levels A and AA) on every main
// page of the portal, the back office and the administration, in Vietnamese
// and on a few pages in English, including pages showing form errors; and
// screenshots of each at 360 px and 1280 px wide under artifacts/.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { axe, DEMO_ADMIN_TOTP, DEMO_PASSWORD, launch, login, newContext, pdfFile, screenshots, startServers, totp } from './lib.mjs';

let srv, browser, files;
const report = [];

before(async () => {
  srv = await startServers();
  browser = await launch();
  files = fs.mkdtempSync(path.join(os.tmpdir(), 'tinhso-a11y-'));
});

after(async () => {
  fs.writeFileSync(path.join(path.dirname(new URL(import.meta.url).pathname), 'artifacts', 'axe-report.json'),
    JSON.stringify(report, null, 2));
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

/** Checks the page as it is: no axe violation, no horizontal scroll at 360 px; takes its screenshots. */
async function check(page, name) {
  const violations = await axe(page);
  report.push({ page: name, url: page.url(), violations: violations.length, details: violations });
  await page.setViewportSize({ width: 360, height: 800 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  await page.setViewportSize({ width: 1280, height: 900 });
  await screenshots(page, name);
  assert.deepEqual(violations, [], `${name}: ${JSON.stringify(violations, null, 2)}`);
  assert.ok(overflow <= 0, `${name} scrolls sideways at 360 px by ${overflow} px`);
}

async function go(page, url) {
  const r = await page.goto(srv.base + url);
  assert.ok(r.status() < 500, `${url} answered ${r.status()}`);
  return r;
}

async function submit(page, selector) {
  await page.click(selector);
  await page.waitForLoadState('load');
}

test('public pages', async () => {
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  await go(page, '/');
  await check(page, 'home');
  await go(page, '/thu-tuc');
  await check(page, 'procedures');
  await go(page, '/thu-tuc?field=H%E1%BB%99%20t%E1%BB%8Bch&level=commune');
  await check(page, 'procedures-filtered');
  await go(page, '/thu-tuc/1.001193');
  await check(page, 'procedure');
  await go(page, '/thu-tuc/1.001193/nop');
  await check(page, 'apply-start-anonymous');
  await go(page, '/dang-nhap');
  await check(page, 'login');
  await submit(page, 'form[action="/dang-nhap"] button[type=submit]');
  await check(page, 'login-errors');
  await go(page, '/dang-ky');
  await check(page, 'register');
  await page.fill('#id_number', '123');
  await page.fill('#password', 'a');
  await page.fill('#password_confirm', 'a');
  await submit(page, 'form[action="/dang-ky"] button[type=submit]');
  await check(page, 'register-errors');
  await go(page, '/tra-cuu');
  await check(page, 'lookup');
  await go(page, '/tra-cuu?code=000.08.31.H23-250101-0001&id_last4=12');
  await check(page, 'lookup-errors');
  await go(page, '/huong-dan');
  await check(page, 'help');
  await go(page, '/khong-co-trang-nay');
  await check(page, 'not-found');
  await ctx.close();
  // English
  const en = await newContext(browser, { locale: 'en-GB' });
  const ep = await en.newPage();
  await go(ep, '/');
  assert.equal(await ep.getAttribute('html', 'lang'), 'en');
  await check(ep, 'home-en');
  await go(ep, '/thu-tuc/1.001193');
  await check(ep, 'procedure-en');
  // the switch goes back to Vietnamese on the same page
  await Promise.all([ep.waitForURL(/\/thu-tuc\/1\.001193$/), ep.click('.topbar__lang')]);
  assert.equal(await ep.getAttribute('html', 'lang'), 'vi');
  await en.close();
});

test('applying online, the dossier and the lookup', async () => {
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  await login(page, srv.base, '030095001234', DEMO_PASSWORD);
  await check(page, 'my-dossiers-empty');
  await go(page, '/thu-tuc/1.001193/nop');
  await check(page, 'apply-start');
  await submit(page, '#start-button');
  await check(page, 'apply-agency');
  await submit(page, 'main form:not(.cancel-form) button[type=submit]');
  await check(page, 'apply-agency-error');
  await page.selectOption('#agency', '000.08.31.H23');
  await submit(page, 'main form:not(.cancel-form) button[type=submit]');
  await check(page, 'apply-questions');
  await submit(page, 'main form:not(.cancel-form) button[type=submit]');
  await check(page, 'apply-questions-errors');
  const fills = {
    '#f-child_full_name': 'Nguyễn Minh Khôi', '#f-child_birth_date-day': '5', '#f-child_birth_date-month': '3',
    '#f-child_birth_date-year': '2025', '#f-child_birth_place': 'Hải Dương', '#f-child_ethnicity': 'Kinh',
    '#f-mother_full_name': 'Trần Thị Mai', '#f-mother_id_number': '030190004321', '#f-applicant_phone': '0912345678',
    '#f-residence_address-detail': 'Số 12 phố Quang Trung',
  };
  for (let i = 0; i < 6 && /cau-hoi/.test(page.url()); i++) {
    for (const [sel, v] of Object.entries(fills)) if (await page.$(sel)) await page.fill(sel, v);
    for (const sel of ['#f-child_gender-0', '#f-child_nationality-0']) if (await page.$(sel)) await page.check(sel);
    if (await page.$('#f-residence_address-commune')) {
      await check(page, 'apply-address');
      await page.selectOption('#f-residence_address-commune', '000.08.31.H23');
    }
    await submit(page, 'main form:not(.cancel-form) button[type=submit]');
  }
  await check(page, 'apply-documents');
  await submit(page, 'main form:not(.cancel-form) button[type=submit]:not([name])');
  await check(page, 'apply-documents-errors');
  await page.setInputFiles('#doc0', pdfFile(files, 'to-khai.pdf'));
  await page.setInputFiles('#doc1', pdfFile(files, 'chung-sinh.pdf'));
  await submit(page, 'main form:not(.cancel-form) button[name="upload"]');
  await check(page, 'apply-documents-uploaded');
  await submit(page, 'main form:not(.cancel-form) button[type=submit]:not([name])');
  await check(page, 'apply-check');
  await submit(page, '#submit-dossier');
  await check(page, 'apply-confirmation');
  const code = (await page.textContent('#dossier-code')).trim();
  await go(page, '/ho-so-cua-toi');
  await check(page, 'my-dossiers');
  await go(page, `/ho-so/${code}`);
  await check(page, 'dossier');

  const off = await newContext(browser);
  const op = await off.newPage();
  await login(op, srv.base, 'canbo.thd', DEMO_PASSWORD);
  await check(op, 'worklist');
  await go(op, `/can-bo/ho-so/${code}`);
  await check(op, 'office-dossier-new');
  await submit(op, '#do-refuse');
  await check(op, 'office-dossier-errors');
  await op.fill('#receive-note', 'Đủ giấy tờ');
  await submit(op, '#do-receive');
  await op.fill('#request_supplement-reason', 'Bổ sung giấy chứng sinh bản rõ nét');
  await submit(op, '#do-request_supplement');
  await check(op, 'office-dossier');
  await go(page, `/ho-so/${code}`);
  await check(page, 'dossier-supplement');
  await go(op, '/can-bo/tiep-nhan');
  await check(op, 'intake-list');
  await go(op, '/can-bo/tiep-nhan/1.001193');
  await check(op, 'intake-form');
  await go(op, '/can-bo/thong-ke');
  await check(op, 'stats');

  const anon = await newContext(browser);
  const ap = await anon.newPage();
  await go(ap, `/tra-cuu?code=${encodeURIComponent(code)}&id_last4=1234`);
  await check(ap, 'lookup-result');
  await Promise.all([ctx.close(), off.close(), anon.close()]);
});

test('administration', async () => {
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  let ok = false;
  for (let i = 0; i < 3 && !ok; i++) {
    try {
      await login(page, srv.base, 'admin', DEMO_PASSWORD, totp(DEMO_ADMIN_TOTP));
      ok = /\/quan-tri/.test(page.url());
    } catch (e) {
      await new Promise((r) => setTimeout(r, (31 - (Date.now() / 1000) % 30) * 1000)); // that code was used
    }
  }
  assert.ok(ok, 'the admin logs in with a TOTP code');
  await check(page, 'admin-home');
  await go(page, '/quan-tri/co-quan?level=district');
  await check(page, 'admin-agencies');
  await go(page, '/quan-tri/co-quan/moi');
  await page.fill('#code', 'abc');
  await submit(page, 'main form button[type=submit]');
  await check(page, 'admin-agency-errors');
  await go(page, '/quan-tri/co-quan/000.08.31.H23');
  await check(page, 'admin-agency');
  await go(page, '/quan-tri/nguoi-dung');
  await check(page, 'admin-users');
  await go(page, '/quan-tri/nguoi-dung/moi');
  await check(page, 'admin-user');
  await go(page, '/quan-tri/thu-tuc');
  await check(page, 'admin-procedures');
  await go(page, '/quan-tri/thu-tuc/1.001193');
  await check(page, 'admin-procedure');
  await page.fill('#doc', '{"code": "1.001193", "name": ""}');
  await submit(page, 'main form button[type=submit]');
  await check(page, 'admin-procedure-errors');
  await go(page, '/quan-tri/ngay-nghi?year=2026');
  await check(page, 'admin-holidays');
  await ctx.close();
});
