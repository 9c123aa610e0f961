#!/usr/bin/env node
// Disables an lb member through the status manager's HTML UI, the way an admin would:
// open the list, click the member's "Edit", choose Activation = Disabled, submit, and
// wait for the list page. Prints one JSON line with the activation the page then shows,
// and saves a full-page screenshot.
//
// Usage:
//   node click_disable.mjs PORT MEMBER SCREENSHOT.png [LB] [MOUNT_PATH]
//   e.g. node click_disable.mjs 8080 tomcat1 /tmp/disabled.png load_balancer /jkmanager/
//
// Needs: npm install --prefix tests/status_browser playwright-core@1
//        Debian chromium at /usr/bin/chromium (or $CHROMIUM).
// Exit status: 0 when the member shows DIS afterwards, 1 when it does not, 2 on errors.
// Only loopback is contacted: httpd at $HTTPD_HOST (a 127.x.y.z literal, default
// 127.0.0.1); the browser profile is a fresh temporary directory.

import { launch } from './chromium.mjs';

const [port, member = 'tomcat1', screenshot = 'status-disabled.png', lb = '', mount = '/jkmanager/'] =
  process.argv.slice(2);

if (!/^\d{1,5}$/.test(port ?? '') || !mount.startsWith('/')) {
  console.error('usage: node click_disable.mjs PORT MEMBER SCREENSHOT.png [LB] [MOUNT_PATH]');
  process.exit(2);
}

const host = process.env.HTTPD_HOST ?? '127.0.0.1';
if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) {
  console.error('HTTPD_HOST must be a 127.x.y.z address');
  process.exit(2);
}
const start = `http://${host}:${port}${mount}`;
// CSS attribute selector values, quoted like JSON strings.
const q = (s) => JSON.stringify(s);
const scopeSel = lb ? `section[data-lb=${q(lb)}] ` : '';
const rowSel = `${scopeSel}tr[data-member=${q(member)}]`;
const editSel = `${scopeSel}a[data-edit-member=${q(member)}]`;

let browser;
const result = { ok: false, member, lb: lb || null, start };

try {
  browser = await launch([], { viewport: { width: 1440, height: 900 } });
  const { context } = browser;
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15000);

  const first = await page.goto(start, { waitUntil: 'load' });
  result.list_status = first?.status() ?? null;
  if (!first || first.status() !== 200) throw new Error(`GET ${start} answered ${result.list_status}`);

  const row = page.locator(rowSel).first();
  await row.waitFor();
  result.before = await row.getAttribute('data-activation');

  // Edit → the member form.
  await Promise.all([page.waitForURL(/[?&]cmd=edit(&|$)/), page.locator(editSel).first().click()]);
  const select = page.locator('form#edit-member select[name=vwa]');
  await select.waitFor();
  await select.selectOption('Disabled');

  // Submit; the server answers 303 to the list (a result page with a meta refresh back to
  // the list works too: we wait for the member row, which the edit page does not have).
  const submitted = page.waitForResponse(
    (r) => r.request().method() === 'POST' && r.url().startsWith(`http://${host}:${port}`),
  );
  await page.locator('form#edit-member button[type=submit]').click();
  const post = await submitted;
  result.post_status = post.status();
  const after = page.locator(rowSel).first();
  await after.waitFor({ timeout: 15000 });
  await page.waitForLoadState('load');

  result.url = page.url();
  result.activation = await after.getAttribute('data-activation');
  result.displayed = (await after.locator('.act-pill').first().innerText()).trim();
  result.state = await after.getAttribute('data-state');
  const notice = page.locator('#result');
  result.notice = (await notice.count()) ? (await notice.innerText()).trim() : null;
  await page.screenshot({ path: screenshot, fullPage: true });
  result.screenshot = screenshot;
  result.ok = result.activation === 'DIS' && result.displayed === 'DIS';
  process.exitCode = result.ok ? 0 : 1;
} catch (e) {
  result.error = String(e?.message ?? e).split('\n')[0];
  process.exitCode = 2;
} finally {
  await browser?.close().catch(() => {});
  console.log(JSON.stringify(result));
}
