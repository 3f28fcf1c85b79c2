// The admin console in a real browser: Debian's chromium driven by playwright-core, against the stack test.sh started.
// Signs in, finds a tenant, opens its 360, suspends it (the sidecar denies), reactivates it, downloads a statement as CSV and
// checks a value against the API, requests a delete (pending), approves it as a second operator, checks that the support
// role sees no action and is refused by the API, and that sign-out ends a session. Every "absent" check first asserts what the
// same page must show, so an empty or error page cannot pass it. Screenshots of every screen go to tests/browser/screenshots/.
// Env (test.sh sets it): ED_CONTROLPLANE_URL, ED_SIDECAR_URL, ED_E2E_OPERATOR_TOKEN, ED_E2E_SECOND_OPERATOR_TOKEN,
// ED_E2E_SUPPORT_TOKEN; CHROMIUM (default: chromium on PATH). node:test steps (spec reporter: ends with "ℹ pass N" and "ℹ fail M"); exits 1 when anything failed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const base = process.env.ED_CONTROLPLANE_URL;
const sidecarUrl = process.env.ED_SIDECAR_URL;
const operator = process.env.ED_E2E_OPERATOR_TOKEN;
const second = process.env.ED_E2E_SECOND_OPERATOR_TOKEN;
const support = process.env.ED_E2E_SUPPORT_TOKEN;
if (!base || !sidecarUrl || !operator || !second || !support) {
  console.error('ED_CONTROLPLANE_URL, ED_SIDECAR_URL and the operator, second operator and support tokens are required (test.sh sets them)');
  process.exit(2);
}
const executable = process.env.CHROMIUM || execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser']).toString().trim();
const shots = path.join(here, 'screenshots');
fs.mkdirSync(shots, { recursive: true });

const definition = protoLoader.loadSync(['entitlements/v1/entitlement_decision.proto'],
  { keepCase: true, longs: String, enums: String, defaults: true, includeDirs: [path.resolve(here, '../../protos')] });
const loaded = grpc.loadPackageDefinition(definition);
const sidecar = new loaded.entitlements.v1.EntitlementDecisionService(sidecarUrl.replace(/^http:\/\//, ''), grpc.credentials.createInsecure());
const check = (request) => new Promise((resolve, reject) => {
  sidecar.CheckEntitlement(request, { deadline: new Date(Date.now() + 5000) }, (err, r) => (err ? reject(err) : resolve(r)));
});

const api = async (method, url, token, body) => {
  const r = await fetch(base + url, {
    method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* CSV or empty */ }
  return { status: r.status, json, text };
};
const until = async (what, probe, timeoutMs = 20000) => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 100));
  }
};

// The tenant the operators will work on, with usage the statement must show (POST /usage/events, then the ledger).
const tenant = `console-${randomUUID().slice(0, 8)}`;
const month = new Date().toISOString().slice(0, 7);
const created = await api('POST', '/tenants', operator, { tenant_id: tenant, name: 'Console Test Ltd', region: 'eu-west-1', allowed_regions: ['eu-west-1', 'eu-central-1'] });
assert.equal(created.status, 201, created.text);
// A suspended sibling the same search finds: the status filter must show it and leave the active tenant out.
const sibling = `${tenant}-s`;
const siblingCreated = await api('POST', '/tenants', operator, { tenant_id: sibling, name: 'Console Sibling Ltd' });
assert.equal(siblingCreated.status, 201, siblingCreated.text);
const siblingSuspended = await api('POST', `/tenants/${sibling}/suspend`, operator);
assert.equal(siblingSuspended.status, 200, siblingSuspended.text);
await until('the sidecar to know the tenant', async () => (await check({ tenant_id: tenant, feature_key: 'projects' })).reason !== 'DECISION_REASON_UNKNOWN_TENANT');
const events = Array.from({ length: 7 }, (_, i) => ({ tenant_id: tenant, feature: 'api_calls', quantity: 3, unit: 'call', event_id: `${tenant}-${i}` }));
const ingested = await api('POST', '/usage/events', operator, events);
assert.equal(ingested.json?.accepted, 7, ingested.text);

const browser = await chromium.launch({ executablePath: executable, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
// Each step is a node:test test, run in order (they share the browser and pages); the spec reporter's summary is the count.
const run = (name, fn) => test(name, fn);
const shot = (page, name) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
const signIn = async (token) => {
  const context = await browser.newContext({ baseURL: base, acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto('/admin/tenants');
  assert.match(page.url(), /\/admin\/sign-in/);
  await page.fill('[data-testid=token]', token);
  await page.click('[data-testid=sign-in]');
  await page.waitForURL(/\/admin\/tenants/);
  return { context, page };
};
const text = async (page, selector) => (await page.textContent(selector))?.trim();

let deleteApproval;
const op = await signIn(operator);
const { page } = op;

await run('sign-in refuses a bad token and keeps the token out of the page', async () => {
  const context = await browser.newContext({ baseURL: base });
  const p = await context.newPage();
  await p.goto('/admin/sign-in');
  await shot(p, '01-sign-in');
  await p.fill('[data-testid=token]', 'not-a-token');
  await p.click('[data-testid=sign-in]');
  assert.match(await text(p, '[data-testid=error]'), /refused this token/);
  await context.close();
  const cookies = await op.context.cookies();
  const session = cookies.find((c) => c.name === 'ed_admin');
  assert.ok(session?.httpOnly, 'the session cookie is HttpOnly');
  assert.equal(session.sameSite, 'Strict');
  assert.equal(await text(page, '[data-testid=signed-in-as]'), 'test (operator)', 'the signed-in tenants page is shown');
  assert.ok(!(await page.content()).includes(operator), 'the token is never rendered');
});

await run('find the tenant by search and filters; region and data residency shown', async () => {
  await page.fill('[data-testid=search]', tenant);
  await page.selectOption('select[name=status]', 'active');
  await page.click('[data-testid=filter]');
  const row = page.locator(`tr[data-tenant="${tenant}"]`);
  await row.waitFor();
  assert.match(await row.textContent(), /eu-west-1, eu-central-1/);
  assert.match(await row.textContent(), /free/);
  assert.equal(await page.locator(`tr[data-tenant="${sibling}"]`).count(), 0, 'the status filter excludes the suspended sibling');
  await shot(page, '02-tenants');
  await page.selectOption('select[name=status]', 'suspended');
  await Promise.all([page.waitForURL(/status=suspended/), page.click('[data-testid=filter]')]);
  const suspendedRow = page.locator(`[data-testid=tenants] tr[data-tenant="${sibling}"]`);
  assert.equal(await suspendedRow.count(), 1, 'the same search with status=suspended lists the suspended sibling');
  assert.match(await suspendedRow.textContent(), /suspended/);
  assert.equal(await page.locator(`tr[data-tenant="${tenant}"]`).count(), 0, 'the status filter excludes an active tenant');
});

await run('tenant 360 shows entitlements, usage against limits and the audit trail', async () => {
  await page.goto(`/admin/tenants/${tenant}`);
  assert.equal(await text(page, '[data-testid=plan]'), 'free');
  assert.equal(await text(page, '[data-testid=plan-source]'), 'baseline');
  assert.match(await text(page, '[data-testid=access-mode]'), /full/);
  assert.match(await page.textContent('[data-testid=audit]'), /tenant\.created/);
  await until('the rollup to show the usage', async () => {
    await page.reload();
    return /21 call/.test(await page.textContent('[data-testid=usage-production]'));
  });
  assert.equal(await page.locator('[data-testid=usage-production] svg rect').count() > 0, true, 'a per-day chart');
  await shot(page, '03-tenant-360');
});

await run('suspend behind a confirmation; the sidecar denies; reactivate restores', async () => {
  await page.click('[data-testid=action-suspend]');
  assert.match(await text(page, '[data-testid=effect]'), /TENANT_SUSPENDED/);
  await shot(page, '04-confirm-suspend');
  await page.click('[data-testid=confirm]');
  await page.waitForURL(new RegExp(`/admin/tenants/${tenant}$`));
  assert.match(await text(page, '[data-testid=flash]'), /done/);
  assert.equal(await text(page, '[data-testid=tenant-status]'), 'suspended');
  const versions = (await api('GET', `/tenants/${tenant}`, operator)).json.snapshot_versions;
  const denied = await check({ tenant_id: tenant, feature_key: 'projects', min_snapshot_version: versions.production });
  assert.equal(denied.allowed, false);
  assert.equal(denied.reason, 'DECISION_REASON_TENANT_SUSPENDED');

  await page.click('[data-testid=action-resume]');
  await page.click('[data-testid=confirm]');
  await page.waitForURL(new RegExp(`/admin/tenants/${tenant}$`));
  assert.equal(await text(page, '[data-testid=tenant-status]'), 'active');
  const after = (await api('GET', `/tenants/${tenant}`, operator)).json.snapshot_versions;
  const allowed = await check({ tenant_id: tenant, feature_key: 'projects', min_snapshot_version: after.production });
  assert.equal(allowed.allowed, true, allowed.reason);
  const audit = (await api('GET', `/tenants/${tenant}/audit`, operator)).json.entries.map((e) => `${e.action} by ${e.actor}`);
  assert.ok(audit.includes('tenant.suspended by operator:test') && audit.includes('tenant.resumed by operator:test'), audit.join(', '));
});

await run('usage statement: the CSV download matches the API', async () => {
  await page.goto('/admin/usage');
  await page.fill('[data-testid=usage-tenant]', tenant);
  await page.fill('[data-testid=usage-month]', month);
  // The form is a GET: wait for its navigation, then re-load that URL until the ledger has caught up.
  await Promise.all([page.waitForURL(/\/admin\/usage\?tenant=/), page.click('[data-testid=show-usage]')]);
  const statementUrl = page.url();
  await until('the ledger to hold the events', async () => {
    await page.goto(statementUrl);
    return (await page.locator('[data-feature=api_calls] [data-testid=quantity]').count()) > 0
      && (await text(page, '[data-feature=api_calls] [data-testid=quantity]')) === '21';
  });
  await shot(page, '05-usage');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=statement-csv]')]);
  const csv = fs.readFileSync(await download.path(), 'utf8').trim().split(/\r?\n/).map((l) => l.split(','));
  const header = csv[0];
  const row = csv.find((r) => r[header.indexOf('feature')] === 'api_calls');
  const statement = (await api('GET', `/tenants/${tenant}/usage/statements/${month}`, operator)).json;
  const line = statement.lines.find((l) => l.feature === 'api_calls');
  assert.equal(Number(row[header.indexOf('quantity')]), line.quantity);
  assert.equal(line.quantity, 21);
  assert.match(download.suggestedFilename(), /\.csv$/);
});

await run('delete is pending until a second operator approves it', async () => {
  await page.goto(`/admin/tenants/${tenant}`);
  await page.click('[data-testid=action-delete]');
  assert.match(await text(page, '[data-testid=effect]'), /retention/);
  await page.click('[data-testid=confirm]');
  await page.waitForURL(new RegExp(`/admin/tenants/${tenant}$`));
  const flash = await text(page, '[data-testid=flash]');
  assert.match(flash, /pending approval/);
  deleteApproval = flash.match(/pending approval (\S+)\./)[1];
  assert.match(await text(page, '[data-testid=pending-approval]'), /tenant\.delete/);
  assert.equal(await text(page, '[data-testid=tenant-status]'), 'active');
  await page.goto('/admin/approvals');
  const row = page.locator(`tr[data-approval="${deleteApproval}"]`);
  assert.equal(await row.count(), 1, 'the pending delete is listed');
  assert.match(await row.textContent(), /tenant\.delete.*your request: another operator decides/s);
  assert.equal(await row.locator('[data-testid=approve]').count(), 0, 'no approve button on one\'s own request');

  const bob = await signIn(second);
  await bob.page.goto('/admin/approvals');
  await shot(bob.page, '06-approvals');
  await bob.page.locator(`tr[data-approval="${deleteApproval}"] [data-testid=approve]`).click();
  await bob.page.waitForURL(/\/admin\/approvals$/);
  assert.match(await text(bob.page, '[data-testid=flash]'), /approved and executed/);
  await bob.page.goto(`/admin/tenants/${tenant}`);
  assert.equal(await text(bob.page, '[data-testid=tenant-status]'), 'deleting');
  await bob.context.close();
  const approval = (await api('GET', `/approvals/${deleteApproval}`, operator)).json;
  assert.equal(approval.status, 'executed');
  assert.equal(approval.decided_by, 'operator:second-operator');
});

await run('billing operations and catalog screens render their data', async () => {
  await page.goto('/admin/billing?gate=run');
  await page.locator('[data-testid=events]').waitFor();
  // The fake Stripe is seeded with the catalog's prices: every active plan's price must match, so the gate says OK.
  const catalog = (await api('GET', '/catalog/plans', operator)).json;
  const prices = catalog.plans.filter((p) => p.active).flatMap((p) => p.prices.map((price) => price.id)).sort();
  assert.ok(prices.length > 0, 'the catalog sells something');
  const gate = page.locator('[data-testid=gate-result]');
  assert.match(await text(page, '[data-testid=gate-result]'), new RegExp(`^Catalog ${catalog.version.replace(/\./g, '\\.')} against Stripe at .+: OK, ${prices.length} prices match$`));
  assert.equal(await gate.getAttribute('class'), 'ok');
  const gateRows = await page.locator('[data-testid=gate-rows] tr[data-price]').evaluateAll((rows) => rows.map((r) => [r.dataset.price, r.querySelector('[data-testid=gate-row-result]').textContent.trim()]));
  assert.deepEqual(gateRows.map(([id]) => id).sort(), prices);
  assert.deepEqual(gateRows.filter(([, result]) => result !== 'match'), [], 'every price matches');
  await shot(page, '07-billing');
  await page.goto('/admin/catalog');
  assert.equal(await text(page, '[data-testid=catalog-version]'), catalog.version);
  assert.equal(await text(page, '[data-testid=catalog-hash]'), catalog.content_hash);
  await shot(page, '08-catalog');
});

await run('forms are CSRF-protected: a POST without the antiforgery token is refused', async () => {
  const r = await op.context.request.post(`/admin/tenants/${tenant}/confirm`, { form: { do: 'resume' }, maxRedirects: 0 });
  assert.equal(r.status(), 400);
});

await run('support sees but cannot act: no action buttons, and the API answers 403', async () => {
  const sam = await signIn(support);
  assert.equal(await text(sam.page, '[data-testid=role]'), 'support');
  await sam.page.goto(`/admin/tenants/${tenant}`);
  assert.equal(await text(sam.page, '[data-testid=tenant-status]'), 'deleting', 'the 360 of the tenant is shown');
  assert.equal(await text(sam.page, '[data-testid=plan]'), 'free');
  assert.equal(await sam.page.locator('[data-testid=read-only]').count(), 1);
  assert.equal(await sam.page.locator('[data-testid=actions]').count(), 0);
  await shot(sam.page, '09-support-360');
  const confirm = await sam.page.goto(`/admin/tenants/${tenant}/confirm?do=suspend`);
  assert.equal(confirm.status(), 403);
  assert.equal(await text(sam.page, '[data-testid=error]'), 'Your role can see tenants but not act on them.');
  assert.equal(await sam.page.locator('[data-testid=confirm-title]').count(), 1, 'the confirmation page itself is shown');
  assert.equal(await sam.page.locator('[data-testid=confirm]').count(), 0);
  await sam.page.goto('/admin/approvals?status=all');
  const executed = sam.page.locator(`[data-testid=approvals] tr[data-approval="${deleteApproval}"]`);
  assert.equal(await executed.count(), 1, 'support sees the approvals, the executed delete among them');
  assert.match(await executed.textContent(), /executed by operator:second-operator/);
  assert.equal(await sam.page.locator('[data-testid=approve]').count(), 0);
  assert.equal(await sam.page.locator('[data-testid=reject]').count(), 0);
  for (const [method, url] of [['POST', `/tenants/${tenant}/suspend`], ['POST', `/approvals/${deleteApproval}/reject`], ['POST', '/billing/reconciliation/runs'], ['DELETE', `/tenants/${tenant}`]]) {
    assert.equal((await api(method, url, support)).status, 403, `${method} ${url}`);
  }
  assert.equal((await api('GET', `/tenants/${tenant}/dossier`, support)).status, 200, 'support reads the dossier');
  const signIns = (await api('GET', '/tenants/_system/audit?action=console.signed_in', operator)).json.entries.map((e) => e.actor);
  assert.ok(signIns.includes('support:support-test'), signIns.join(', '));
  await sam.context.close();
});

await run('sign out ends the session; a copy of its cookie is refused too', async () => {
  const bob = await signIn(second);
  const [cookie] = (await bob.context.cookies()).filter((c) => c.name === 'ed_admin');
  assert.ok(cookie, 'signed in');
  await Promise.all([bob.page.waitForURL(/\/admin\/sign-in$/), bob.page.click('text=Sign out')]);
  assert.equal(await bob.page.locator('[data-testid=sign-in-form]').count(), 1);
  assert.equal((await bob.context.cookies()).filter((c) => c.name === 'ed_admin').length, 0, 'the cookie is deleted');
  await bob.page.goto('/admin/tenants');
  assert.match(bob.page.url(), /\/admin\/sign-in\?ReturnUrl=%2Fadmin%2Ftenants$/);
  const replay = await browser.newContext({ baseURL: base });
  await replay.addCookies([cookie]);
  const p = await replay.newPage();
  await p.goto('/admin/tenants');
  assert.match(p.url(), /\/admin\/sign-in/, 'the old cookie no longer signs in');
  assert.equal(await p.locator('[data-testid=sign-in-form]').count(), 1);
  await replay.close();
  await bob.context.close();
  // The other sessions go on.
  await page.goto('/admin/tenants');
  assert.equal(await text(page, '[data-testid=signed-in-as]'), 'test (operator)');
});

await op.context.close();
await browser.close();
