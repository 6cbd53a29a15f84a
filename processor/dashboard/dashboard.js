// The dashboard: reads leakwatch's JSON API and refreshes every 5 s. No dependencies.
'use strict';

const $ = (id) => document.getElementById(id);
let sort = 'amount';
// The tenant's /api/settings: its time zone, CRM link template and names of ids.
let settings = { timezone: 'UTC', crm_url_template: null, managers: {}, loss_reasons: {} };

const params = new URLSearchParams(location.search);
let wantedTenant = params.get('tenant') || 'default';
if (params.get('sort') === 'count') sort = 'count';
document.querySelectorAll('.switch button')
  .forEach((b) => b.classList.toggle('on', b.dataset.sort === sort));

function money(amount, currency) {
  if (amount === undefined || amount === null) return '–';
  const [units, cents] = String(amount).split('.');
  const grouped = units.replace(/\B(?=(\d{3})+(?!\d))/g, '\u202f');
  return grouped + (cents && cents !== '00' ? '.' + cents : '') + (currency ? ' ' + currency : '');
}

// As people read a duration: the two largest units ("9 d 6 h", "2 h 5 min", "25 min").
function duration(seconds) {
  if (seconds === undefined || seconds === null) return '–';
  const d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600),
    m = Math.floor((seconds % 3600) / 60);
  if (d > 0) return h > 0 ? `${d} d ${h} h` : `${d} d`;
  if (h > 0) return m > 0 ? `${h} h ${m} min` : `${h} h`;
  return seconds < 60 ? `${Math.max(0, Math.floor(seconds))} s` : `${m} min`;
}

// The parts of a time in the tenant's time zone.
function localParts(ms) {
  const parts = {};
  new Intl.DateTimeFormat('en-GB', {
    timeZone: settings.timezone, year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(new Date(ms)).forEach((p) => { parts[p.type] = p.value; });
  return parts;
}

// Day first, in the tenant's time zone: "22.11.2026 09:05".
function localTime(ms) {
  if (ms === undefined || ms === null) return '–';
  const p = localParts(ms);
  return `${p.day}.${p.month}.${p.year} ${p.hour}:${p.minute}`;
}

function localDay(ms) {
  const p = localParts(ms);
  return `${p.day}.${p.month}.${p.year}`;
}

const managerName = (id) => (id ? settings.managers[id] || id : '–');
const reasonName = (id) => settings.loss_reasons[id] || id;

// A cell linking to the deal in the CRM when crm.url_template is set, else plain text.
function dealCell(text, dealId) {
  const td = cell(settings.crm_url_template && dealId ? '' : text);
  if (settings.crm_url_template && dealId) {
    const a = document.createElement('a');
    a.href = settings.crm_url_template.replaceAll('{deal_id}', encodeURIComponent(dealId));
    a.textContent = text;
    a.target = '_blank';
    td.append(a);
  }
  return td;
}

function cell(text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function fill(tbody, rows, empty, columns) {
  tbody.replaceChildren();
  if (rows.length === 0) {
    const tr = document.createElement('tr');
    tr.append(cell(empty, 'muted'));
    tr.firstChild.colSpan = columns;
    tbody.append(tr);
    return;
  }
  for (const row of rows) tbody.append(row);
}

// With http.token set, the API wants "Authorization: Bearer <token>". The token comes from
// the URL fragment (#token=..., never sent to the server nor logged by it), else from the
// field shown after a 401; it stays in this tab's sessionStorage and leaves the address bar.
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.has('token')) {
  sessionStorage.setItem('leakwatch.token', fragment.get('token'));
  fragment.delete('token');
  history.replaceState(null, '', location.pathname + location.search +
                       (fragment.toString() ? '#' + fragment : ''));
}

function authHeaders() {
  const token = sessionStorage.getItem('leakwatch.token');
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function api(path) {
  const response = await fetch(path, { cache: 'no-store', headers: authHeaders() });
  $('token-field').hidden = response.status !== 401;
  if (response.status === 401) throw new Error('a token is needed: enter it above');
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

async function loadPeriods(tenant) {
  const periods = (await api(`/api/loss-periods?tenant=${encodeURIComponent(tenant)}`)) || [];
  periods.sort().reverse(); // months and days, newest first
  const select = $('period'), current = select.value || params.get('period');
  select.replaceChildren(...periods.map((p) => new Option(p.replace(':', ' · '), p)));
  const monthly = periods.find((p) => /^\d{4}-\d{2}:/.test(p));
  select.value = periods.includes(current) ? current : monthly || periods[0] || '';
}

async function loadLoss(tenant) {
  const [period, currency] = ($('period').value || ':').split(':');
  const totals = period ? await api(`/api/loss-totals?tenant=${encodeURIComponent(tenant)}` +
                                    `&period=${period}&currency=${currency}`) : null;
  $('loss-manageable').textContent = totals ? money(totals.manageable.amount, currency) : '–';
  $('loss-objective').textContent = totals ? money(totals.objective.amount, currency) : '–';
  $('loss-target').textContent = totals ? money(totals.target.amount, currency) : '–';
  const rows = (totals ? totals.reasons : []).map((r) => {
    const tr = document.createElement('tr');
    if (r.class === 'manageable') tr.className = 'manageable';
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.textContent = r.class;
    const cls = cell('');
    cls.append(badge);
    tr.append(cell(reasonName(r.reason)), cls, cell(r.count, 'num'), cell(money(r.amount, currency), 'num'));
    return tr;
  });
  fill($('loss-reasons'), rows, 'no lost deals yet', 4);
}

async function loadRisk(tenant) {
  const risk = await api(`/api/risk?tenant=${encodeURIComponent(tenant)}&sort=${sort}`);
  $('risk-clients').textContent = risk ? risk.clients_at_risk : '–';
  $('risk-overdue').textContent = risk ? risk.overdue_tasks : '–';
  $('risk-stake').textContent = risk && risk.at_stake.length
    ? risk.at_stake.map((s) => money(s.amount, s.currency)).join(', ') : (risk ? '0' : '–');
  $('risk-as-of').textContent = risk ? localTime(Date.parse(risk.as_of)) : '–';
  const rows = (risk ? risk.call_first : []).map((line) => {
    const tr = document.createElement('tr');
    tr.append(cell(line.title || line.task_id), dealCell(line.client || '–', line.deal_id),
              cell(line.phone || '–'), cell(managerName(line.manager_id)),
              cell(duration(line.overdue_seconds), 'num'),
              cell(money(line.amount, line.currency), 'num'));
    return tr;
  });
  fill($('call-first'), rows, 'nobody to call', 6);
}

async function loadResponses(tenant) {
  const stats = await api(`/api/response-stats?tenant=${encodeURIComponent(tenant)}`);
  const rows = Object.values(stats ? stats.scopes : {})
    .filter((s) => s.scope === 'manager')
    .sort((a, b) => (a.manager_id < b.manager_id ? -1 : 1))
    .map((s) => {
      const d = s.last_24h, tr = document.createElement('tr');
      const share = (x) => (x === undefined ? '–' : Math.round(Number(x) * 100) + ' %');
      tr.append(cell(managerName(s.manager_id)), cell(d.count, 'num'), cell(duration(d.mean_seconds), 'num'),
                cell(duration(d.median_seconds), 'num'), cell(duration(d.p90_seconds), 'num'),
                cell(d.unanswered ?? '–', 'num'), cell(share(d.answered_within_callback_share), 'num'));
      return tr;
    });
  fill($('response-rows'), rows, 'no responses yet', 7);
}

function row(...cells) {
  const tr = document.createElement('tr');
  tr.append(...cells);
  return tr;
}

// The lead leaks card. "Today" is the tenant's local day of the latest event time applied
// (event time, not the wall clock: a replayed day reads as it was lived); the API sends two
// days of untracked contacts and duplicates and the day is picked here, in the time zone.
async function loadLeaks(tenant) {
  const leaks = await api(`/api/lead-leaks?tenant=${encodeURIComponent(tenant)}`);
  const latest = leaks ? leaks.latest_ms : null;
  const today = latest !== null ? localDay(latest) : null;
  const isToday = (ms) => today !== null && ms !== undefined && localDay(ms) === today;
  const untracked = (leaks ? leaks.untracked : []).filter((u) => isToday(u.called_ms));
  const dups = (leaks ? leaks.duplicates : []).filter((d) => isToday(d.created_ms));
  $('leaks-waiting').textContent = leaks ? leaks.waiting_total : '–';
  $('leaks-untracked').textContent = leaks ? untracked.length : '–';
  $('leaks-duplicates').textContent = leaks ? dups.length : '–';
  $('leaks-day').textContent = today || '–';
  $('leaks-latest').textContent = localTime(latest);
  $('leaks-tz').textContent = settings.timezone;
  fill($('waiting-rows'), (leaks ? leaks.waiting : []).map((l) => row(
    cell(l.lead_id), cell(l.phone || '–'), cell(l.channel || '–'), cell(managerName(l.manager_id)),
    cell(localTime(l.created_ms)),
    cell(duration(l.created_ms !== undefined ? (latest - l.created_ms) / 1000 : null), 'num'))),
  'nobody is waiting', 6);
  fill($('untracked-rows'), untracked.map((u) => row(
    cell(u.phone || '–'), cell(u.call_id), cell(u.status || '–'), cell(managerName(u.manager_id)),
    cell(localTime(u.called_ms)))), 'none today', 5);
  fill($('duplicate-rows'), dups.map((d) => row(
    cell(d.lead_id), cell(d.duplicate_of || '–'), cell(d.phone || '–'), cell(d.channel || '–'),
    cell(managerName(d.manager_id)), cell(localTime(d.created_ms)))), 'none today', 6);
}

// The tenant picker: every tenant seen (/api/tenants), and the one asked for in the URL.
async function loadTenants() {
  const names = (await api('/api/tenants')) || [];
  const select = $('tenant'), current = select.value || wantedTenant;
  if (!names.includes(current)) names.unshift(current);
  select.replaceChildren(...names.map((n) => new Option(n, n)));
  select.value = current;
}

async function loadSettings(tenant) {
  const s = await api(`/api/settings?tenant=${encodeURIComponent(tenant)}`);
  if (s) settings = s;
}

async function refresh() {
  try {
    await loadTenants();
    const tenant = $('tenant').value || 'default';
    await Promise.all([loadPeriods(tenant), loadSettings(tenant)]);
    await Promise.all([loadLoss(tenant), loadRisk(tenant), loadResponses(tenant),
      loadLeaks(tenant), loadFunnel(tenant)]);
    $('status').textContent = 'updated ' + new Date().toLocaleTimeString();
  } catch (e) {
    $('status').textContent = 'cannot reach leakwatch: ' + e.message;
  }
}

for (const button of document.querySelectorAll('.switch button')) {
  button.addEventListener('click', () => {
    sort = button.dataset.sort;
    document.querySelectorAll('.switch button').forEach((b) => b.classList.toggle('on', b === button));
    refresh();
  });
}
$('controls').addEventListener('change', (e) => { if (e.target.id !== 'token') refresh(); });
$('controls').addEventListener('submit', (e) => {
  e.preventDefault();
  if ($('token').value) sessionStorage.setItem('leakwatch.token', $('token').value);
  $('token').value = '';
  refresh();
});
refresh();
setInterval(refresh, 5000);
