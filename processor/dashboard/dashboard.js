// The dashboard: reads leakwatch's JSON API and refreshes every 5 s. No dependencies.
'use strict';

const $ = (id) => document.getElementById(id);
let sort = 'amount';

const params = new URLSearchParams(location.search);
if (params.get('tenant')) $('tenant').value = params.get('tenant');
if (params.get('sort') === 'count') sort = 'count';
document.querySelectorAll('.switch button')
  .forEach((b) => b.classList.toggle('on', b.dataset.sort === sort));

function money(amount, currency) {
  if (amount === undefined || amount === null) return '–';
  const [units, cents] = String(amount).split('.');
  const grouped = units.replace(/\B(?=(\d{3})+(?!\d))/g, '\u202f');
  return grouped + (cents && cents !== '00' ? '.' + cents : '') + (currency ? ' ' + currency : '');
}

function duration(seconds) {
  if (seconds === undefined) return '–';
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60);
  return h > 0 ? `${h} h ${m} min` : `${m} min`;
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

async function api(path) {
  const response = await fetch(path, { cache: 'no-store' });
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
    tr.append(cell(r.reason), cls, cell(r.count, 'num'), cell(money(r.amount, currency), 'num'));
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
  $('risk-as-of').textContent = risk ? new Date(risk.as_of).toLocaleString() : '–';
  const rows = (risk ? risk.call_first : []).map((line) => {
    const tr = document.createElement('tr');
    tr.append(cell(line.title || line.task_id), cell(line.client || '–'),
              cell(line.manager_id || '–'), cell(duration(line.overdue_seconds), 'num'),
              cell(money(line.amount, line.currency), 'num'));
    return tr;
  });
  fill($('call-first'), rows, 'nobody to call', 5);
}

async function loadResponses(tenant) {
  const stats = await api(`/api/response-stats?tenant=${encodeURIComponent(tenant)}`);
  const rows = Object.values(stats ? stats.scopes : {})
    .filter((s) => s.scope === 'manager')
    .sort((a, b) => (a.manager_id < b.manager_id ? -1 : 1))
    .map((s) => {
      const d = s.last_24h, tr = document.createElement('tr');
      tr.append(cell(s.manager_id), cell(d.count, 'num'), cell(duration(d.mean_seconds), 'num'),
                cell(duration(d.median_seconds), 'num'), cell(duration(d.p90_seconds), 'num'));
      return tr;
    });
  fill($('response-rows'), rows, 'no responses yet', 5);
}

async function refresh() {
  const tenant = $('tenant').value.trim() || 'default';
  try {
    await loadPeriods(tenant);
    await Promise.all([loadLoss(tenant), loadRisk(tenant), loadResponses(tenant)]);
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
$('controls').addEventListener('change', refresh);
$('controls').addEventListener('submit', (e) => { e.preventDefault(); refresh(); });
refresh();
setInterval(refresh, 5000);
