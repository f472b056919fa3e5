// flow.test.mjs: the whole life of a dossier in the browser, once with
// JavaScript on and once with it off: a citizen registers, applies online step
// by step with files and gets a code; the ward's official receives it and
// forwards it, the leader approves, the official issues and returns the
// result; the citizen sees it, downloads the receipt and the result, and the
// public lookup finds it. Then a supplement request answered with a file, a
// fee paid at the (simulated) gateway, and a rating; and a desk intake with
// its receipt.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { DEMO_PASSWORD, downloadBytes, launch, login, newContext, pdfFile, randomCccd, startServers } from './lib.mjs';

const WARD = '000.08.31.H23'; // phường Trần Hưng Đạo
const BIRTH = '1.001193'; // đăng ký khai sinh
const MARITAL = '1.004873'; // xác nhận tình trạng hôn nhân (fee)

let srv, browser, files;

before(async () => {
  srv = await startServers();
  browser = await launch();
  files = fs.mkdtempSync(path.join(os.tmpdir(), 'tinhso-files-'));
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

async function submitForm(page, selector) {
  await page.click(selector);
  await page.waitForLoadState('load');
}

async function continueButton(page) {
  await submitForm(page, 'main form[method="post"]:not(.cancel-form) button[type=submit]:not([name])');
}

async function register(page, js) {
  const cccd = randomCccd();
  const phone = '09' + String(Math.floor(Math.random() * 1e8)).padStart(8, '0');
  await page.goto(srv.base + '/');
  await Promise.all([page.waitForURL(/\/dang-ky/), page.click('.topbar__register')]);
  await page.fill('#id_number', cccd);
  await page.fill('#full_name', 'Lê Thị Hoa');
  await page.fill('#phone', phone);
  await page.fill('#email', 'hoa@example.vn');
  await page.fill('#password', 'Hoa-MatKhau-2025');
  await page.fill('#password_confirm', 'Hoa-MatKhau-2024');
  await submitForm(page, 'form[action="/dang-ky"] button[type=submit]');
  // the mistake is named, in the summary and beside the field, and what was typed is kept
  assert.match(await page.textContent('.error-summary'), /Hai mật khẩu chưa giống nhau/);
  assert.equal(await page.getAttribute('.error-summary a', 'href'), '#password_confirm');
  assert.equal(await page.inputValue('#full_name'), 'Lê Thị Hoa');
  assert.equal(await page.inputValue('#id_number'), cccd);
  if (js) assert.equal(await page.evaluate(() => document.activeElement.className), 'error-summary');
  await page.fill('#password', 'Hoa-MatKhau-2025');
  await page.fill('#password_confirm', 'Hoa-MatKhau-2025');
  await submitForm(page, 'form[action="/dang-ky"] button[type=submit]');
  assert.match(page.url(), /\/ho-so-cua-toi/);
  assert.match(await page.textContent('.notice--success'), /Đã tạo tài khoản/);
  return { cccd, phone };
}

/** Fills whatever questions of the birth registration are on the page. */
async function fillBirthPage(page) {
  const fills = {
    '#f-child_full_name': 'Nguyễn Minh Khôi',
    '#f-child_birth_date-day': '5',
    '#f-child_birth_date-month': '3',
    '#f-child_birth_date-year': '2025',
    '#f-child_birth_place': 'Bệnh viện Đa khoa tỉnh Hải Dương',
    '#f-child_ethnicity': 'Kinh',
    '#f-mother_full_name': 'Lê Thị Hoa',
    '#f-mother_id_number': '030190004321',
    '#f-applicant_phone': '0912345678',
    '#f-residence_address-detail': 'Số 12 phố Quang Trung',
  };
  for (const [sel, v] of Object.entries(fills)) if (await page.$(sel)) await page.fill(sel, v);
  for (const sel of ['#f-child_gender-0', '#f-child_nationality-0']) if (await page.$(sel)) await page.check(sel);
  if (await page.$('#f-residence_address-commune')) await page.selectOption('#f-residence_address-commune', WARD);
}

async function apply(page, js) {
  await page.goto(srv.base + '/thu-tuc?q=khai+sinh');
  await Promise.all([page.waitForURL(new RegExp('/thu-tuc/' + BIRTH.replace('.', '\\.') + '$')), page.click(`a[href="/thu-tuc/${BIRTH}"]`)]);
  assert.match(await page.textContent('h1'), /khai sinh/i);
  await Promise.all([page.waitForURL(/\/nop$/), page.click('.apply-box a.button')]);
  await submitForm(page, '#start-button');
  assert.match(page.url(), /\/ho-so-nhap\/[A-Za-z0-9_-]+\/co-quan$/);
  // no agency chosen: an error, linked to the select
  await continueButton(page);
  assert.equal(await page.getAttribute('.error-summary a', 'href'), '#agency');
  await page.selectOption('#agency', WARD);
  await continueButton(page);
  assert.match(page.url(), /\/cau-hoi\/1$/);
  // the first page sent empty: each required field is named and linked
  await continueButton(page);
  const hrefs = await page.$$eval('.error-summary a', (as) => as.map((a) => a.getAttribute('href')));
  assert.ok(hrefs.includes('#f-child_full_name'), hrefs.join(','));
  assert.ok(hrefs.includes('#f-child_birth_date-day'), hrefs.join(','));
  assert.ok(await page.$('#f-child_full_name[aria-invalid="true"]'));
  // a wrong date is refused and kept as typed
  await fillBirthPage(page);
  await page.fill('#f-child_birth_date-day', '31');
  await page.fill('#f-child_birth_date-month', '2');
  await continueButton(page);
  assert.match(await page.textContent('.error-summary'), /ngày có thật/);
  assert.equal(await page.inputValue('#f-child_birth_date-day'), '31');
  assert.equal(await page.inputValue('#f-child_full_name'), 'Nguyễn Minh Khôi');
  await page.fill('#f-child_birth_date-day', '5');
  await page.fill('#f-child_birth_date-month', '3');
  // the remaining question pages
  for (let i = 0; i < 10 && /\/cau-hoi\/\d+$/.test(page.url()); i++) {
    await fillBirthPage(page);
    await continueButton(page);
    assert.equal(await page.$('.error-summary'), null, await page.textContent('main'));
  }
  assert.match(page.url(), /\/giay-to$/);
  // the documents: the two required ones that no national database supplies
  await continueButton(page);
  assert.ok((await page.$$('.error-summary a')).length >= 2);
  await page.setInputFiles('#doc0', pdfFile(files, 'to-khai-khai-sinh.pdf'));
  await page.setInputFiles('#doc1', pdfFile(files, 'giay-chung-sinh.pdf'));
  await continueButton(page);
  assert.match(page.url(), /\/kiem-tra$/);
  const check = await page.textContent('main');
  assert.match(check, /Nguyễn Minh Khôi/);
  assert.match(check, /05\/03\/2025/);
  assert.match(check, /giay-chung-sinh\.pdf/);
  assert.match(check, /phường Trần Hưng Đạo/);
  // a change link goes back to the question and returns here
  await Promise.all([page.waitForURL(/cau-hoi\/1\?then=check/), page.click('a[href*="cau-hoi/1?then=check#f-child_ethnicity"]')]);
  await page.fill('#f-child_ethnicity', 'Kinh');
  await continueButton(page);
  assert.match(page.url(), /\/kiem-tra$/);
  await submitForm(page, '#submit-dossier');
  assert.match(page.url(), /\/ho-so\/.+\/da-nop$/);
  const code = (await page.textContent('#dossier-code')).trim();
  assert.match(code, /^000\.08\.31\.H23-\d{6}-\d{4}$/);
  assert.match(await page.textContent('main'), /Tiếp theo/);
  return code;
}

async function staffPage(username) {
  const ctx = await newContext(browser, { js: curJs });
  const page = await ctx.newPage();
  await login(page, srv.base, username, DEMO_PASSWORD);
  assert.match(page.url(), /\/can-bo$/);
  return { ctx, page };
}

async function act(page, code, action, extra) {
  await page.goto(`${srv.base}/can-bo/ho-so/${code}`);
  assert.ok(await page.$(`#do-${action}`), `the ${action} button is offered: ${await page.textContent('.actions')}`);
  if (extra) await extra(page);
  await submitForm(page, `#do-${action}`);
  assert.match(page.url(), new RegExp(`ok=${action}`));
  assert.equal(await page.$('.error-summary'), null);
}

let curJs = true;

for (const js of [true, false]) {
  describe(`JavaScript ${js ? 'on' : 'off'}`, () => {
    test('a citizen applies online and gets the result; officials process it', async () => {
      curJs = js;
      const cctx = await newContext(browser, { js });
      const page = await cctx.newPage();
      const citizen = await register(page, js);
      const code = await apply(page, js);

      // the ward's official finds it in the worklist, receives and forwards it
      const off = await staffPage('canbo.thd');
      await off.page.goto(srv.base + '/can-bo?tab=new');
      assert.ok(await off.page.$(`a[href="/can-bo/ho-so/${code}"]`), 'listed as awaiting intake');
      await act(off.page, code, 'receive', (p) => p.fill('#receive-note', 'Hồ sơ đầy đủ'));
      assert.ok(await off.page.$('#paper-receipt'), 'the receipt can be printed');
      const receipt = await off.page.request.get(srv.base + (await off.page.getAttribute('#paper-receipt', 'href')));
      assert.equal(receipt.status(), 200);
      assert.equal((await receipt.body()).subarray(0, 4).toString(), '%PDF');
      await act(off.page, code, 'forward');
      // the approval is the leader's: the official is not offered it
      await off.page.goto(`${srv.base}/can-bo/ho-so/${code}`);
      assert.equal(await off.page.$('#do-approve'), null);
      assert.equal(await off.page.$('#do-forward'), null);

      const lead = await staffPage('lanhdao.thd');
      await lead.page.goto(srv.base + '/can-bo?tab=approve');
      assert.ok(await lead.page.$(`a[href="/can-bo/ho-so/${code}"]`), 'listed as awaiting approval');
      await act(lead.page, code, 'approve', (p) => p.fill('#approve-note', 'Đồng ý'));

      await act(off.page, code, 'issue_result', (p) => p.setInputFiles('#issue_result-files', pdfFile(files, 'giay-khai-sinh.pdf')));
      await act(off.page, code, 'return_result');
      assert.match(await off.page.textContent('#dossier-status'), /Đã trả kết quả/);

      // the citizen sees the result and downloads the receipt and the result
      await page.goto(srv.base + '/ho-so-cua-toi');
      await Promise.all([page.waitForURL(new RegExp(`/ho-so/${code.replace(/\./g, '\\.')}$`)), page.click(`a[href="/ho-so/${code}"]`)]);
      assert.match(await page.textContent('#dossier-status'), /Đã trả kết quả/);
      const timeline = await page.textContent('.timeline');
      for (const t of ['Nộp hồ sơ trực tuyến', 'Tiếp nhận hồ sơ', 'Lãnh đạo phê duyệt', 'Trả kết quả']) assert.match(timeline, new RegExp(t));
      const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#receipt-link')]);
      assert.equal((await downloadBytes(dl)).subarray(0, 4).toString(), '%PDF');
      const [res] = await Promise.all([page.waitForEvent('download'), page.click('#results a.file-list__link')]);
      assert.equal(res.suggestedFilename(), 'giay-khai-sinh.pdf');
      assert.equal((await downloadBytes(res)).subarray(0, 4).toString(), '%PDF');

      // anyone can look it up with the code and 4 digits; nothing personal is shown
      const anon = await newContext(browser, { js });
      const ap = await anon.newPage();
      await ap.goto(srv.base + '/tra-cuu');
      await ap.fill('#code', code);
      await ap.fill('#id_last4', citizen.cccd.slice(-4));
      await submitForm(ap, 'form.lookup-form button[type=submit]');
      assert.match(await ap.textContent('#lookup-status'), /Đã trả kết quả/);
      assert.ok(!(await ap.textContent('main')).includes(citizen.cccd));
      await ap.fill('#id_last4', '0000');
      await submitForm(ap, 'form.lookup-form button[type=submit]');
      assert.match(await ap.textContent('.error-summary'), /Không tìm thấy/);
      await Promise.all([anon.close(), off.ctx.close(), lead.ctx.close(), cctx.close()]);
    });

    test('supplement, payment at the gateway and a rating', async () => {
      curJs = js;
      const cctx = await newContext(browser, { js });
      const page = await cctx.newPage();
      await login(page, srv.base, '030095001234', DEMO_PASSWORD);
      // a procedure with a fee: straight to the agency page from its start page
      await page.goto(`${srv.base}/thu-tuc/${MARITAL}/nop`);
      await submitForm(page, '#start-button');
      await page.selectOption('#agency', WARD).catch(async () => page.check(`input[value="${WARD}"]`));
      await continueButton(page);
      for (let i = 0; i < 10 && /\/cau-hoi\/\d+$/.test(page.url()); i++) {
        for (const input of await page.$$('main input[type=text][id^="f-"], main input[type=tel][id^="f-"]')) {
          const id = await input.getAttribute('id');
          const v = /id_number/.test(id) ? '030095001234' : /phone/.test(id) ? '0912345678' : /-day$/.test(id) ? '12'
            : /-month$/.test(id) ? '8' : /-year$/.test(id) ? '1995' : 'Nguyễn Văn An';
          await input.fill(v);
        }
        for (const name of await page.$$eval('main input[type=radio]', (rs) => [...new Set(rs.map((r) => r.name))])) {
          await page.check(`main input[type=radio][name="${name}"] >> nth=0`);
        }
        for (const sel of await page.$$('main select[id^="f-"]')) {
          const opts = await sel.$$eval('option', (os) => os.map((o) => o.value).filter(Boolean));
          await sel.selectOption(opts[0]);
        }
        await continueButton(page);
        assert.equal(await page.$('.error-summary'), null, await page.textContent('main'));
      }
      for (const input of await page.$$('main input[type=file]')) {
        const id = await input.getAttribute('id');
        if (await page.$(`#${id}-hint`)) await input.setInputFiles(pdfFile(files, `${id}.pdf`));
      }
      await continueButton(page);
      assert.match(page.url(), /\/kiem-tra$/, await page.textContent('main'));
      await submitForm(page, '#submit-dossier');
      const code = (await page.textContent('#dossier-code')).trim();

      const off = await staffPage('canbo.thd');
      await act(off.page, code, 'receive');
      await act(off.page, code, 'request_supplement', async (p) => {
        await p.click('#action-request_supplement').catch(() => {});
        const details = await p.$('details.details:not([open]) > summary');
        if (details && !(await p.isVisible('#request_supplement-reason'))) await details.click();
        await p.fill('#request_supplement-reason', 'Bổ sung bản chụp rõ nét của tờ khai');
      });
      // the applicant answers it with a file and a note
      await page.goto(`${srv.base}/ho-so/${code}`);
      assert.match(await page.textContent('#supplement'), /Bổ sung bản chụp rõ nét/);
      await page.setInputFiles('#doc0', pdfFile(files, 'to-khai-ro-net.pdf'));
      await page.fill('#note', 'Đã gửi bản chụp rõ hơn');
      await submitForm(page, '#supplement button[type=submit]');
      assert.match(page.url(), /ok=supplemented/);
      assert.match(await page.textContent('main'), /to-khai-ro-net\.pdf/);

      // the official asks for the fee; the applicant pays at the gateway and comes back
      await act(off.page, code, 'request_payment', async (p) => {
        const details = await p.$('details.details:not([open]) > summary');
        if (details && !(await p.isVisible('#do-request_payment'))) await details.click();
      });
      await page.goto(`${srv.base}/ho-so/${code}`);
      assert.match(await page.textContent('#pay'), /3\.000 đồng/);
      await Promise.all([page.waitForURL((u) => u.href.startsWith(srv.simUrl)), page.click('#pay-button')]);
      await page.waitForSelector('#pay-success');
      await Promise.all([page.waitForLoadState('load'), page.click('#pay-success')]);
      await page.waitForSelector('#result[data-outcome="success"]');
      await Promise.all([page.waitForURL(new RegExp(`/ho-so/${code.replace(/\./g, '\\.')}\\?ok=payment_returned`)), page.click('#return')]);
      assert.match(await page.textContent('main'), /Đã thanh toán/);
      assert.match(await page.textContent('#dossier-status'), /Được tiếp nhận|Đang xử lý/);

      // through to the result, then the applicant rates the service
      await act(off.page, code, 'forward');
      const lead = await staffPage('lanhdao.thd');
      await act(lead.page, code, 'approve');
      await act(off.page, code, 'issue_result');
      await page.goto(`${srv.base}/ho-so/${code}`);
      await Promise.all([page.waitForURL(/danh-gia$/), page.click('#rate-link')]);
      await submitForm(page, 'main form button[type=submit]');
      assert.ok((await page.$$('.error-summary a')).length >= 10, 'every criterion and the overall level are asked for');
      for (const name of await page.$$eval('main input[type=radio]', (rs) => [...new Set(rs.map((r) => r.name))])) {
        await page.check(`main input[type=radio][name="${name}"] >> nth=0`);
      }
      await page.fill('#comment', 'Cán bộ hướng dẫn tận tình.\nCảm ơn.');
      await submitForm(page, 'main form button[type=submit]');
      assert.match(page.url(), /ok=rated/);
      assert.match(await page.textContent('main'), /Rất hài lòng/);
      await Promise.all([off.ctx.close(), lead.ctx.close(), cctx.close()]);
    });
  });
}

test('an official records a desk intake and prints its receipt', async () => {
  curJs = true;
  const off = await staffPage('canbo.thd');
  const page = off.page;
  await page.goto(srv.base + '/can-bo/tiep-nhan?q=khai+sinh');
  await Promise.all([page.waitForURL(new RegExp(`/can-bo/tiep-nhan/${BIRTH.replace('.', '\\.')}$`)), page.click(`a[href="/can-bo/tiep-nhan/${BIRTH}"]`)]);
  await page.fill('#applicant-name', 'Trần Văn Bảo');
  await page.fill('#applicant-id_number', '12345');
  await submitForm(page, '#intake-submit');
  // the bad identity number and the missing answers are named; what was typed stays
  const summary = await page.textContent('.error-summary');
  assert.match(summary, /12 chữ số/);
  assert.equal(await page.inputValue('#applicant-name'), 'Trần Văn Bảo');
  await page.fill('#applicant-id_number', '030090009999');
  await fillBirthPage(page);
  await submitForm(page, '#intake-submit');
  assert.match(page.url(), /\/can-bo\/ho-so\/000\.08\.31\.H23-\d{6}-\d{4}\?ok=intake$/);
  assert.match(await page.textContent('#dossier-status'), /Được tiếp nhận|Đang xử lý/);
  const href = await page.getAttribute('#paper-receipt', 'href');
  const r = await page.request.get(srv.base + href);
  assert.equal(r.status(), 200);
  assert.equal(r.headers()['content-type'], 'application/pdf');
  await off.ctx.close();
});
