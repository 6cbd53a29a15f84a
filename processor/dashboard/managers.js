// The manager table (manager.report through /api/managers): per manager of the month picked
// in the header (else the latest month with reports) the leads, response times, calls, deals
// and what was lost for manageable reasons. A click on a column head sorts by it, a second
// click reverses (and goes into the URL). Uses dashboard.js's $, api, cell, row, fill,
// duration, managerName and estimate.js's moneySign; every text goes in as textContent.
'use strict';

let managerReports = [];

// Money per currency as "125 000 ₸ · 1 200 $"; its sort key the first currency's amount.
const moneyList = (items, field) => (items.length === 0 ? '–'
  : items.map((i) => moneySign(i[field], i.currency)).join(' · '));
const firstAmount = (items, field) => (items.length ? Number(items[0][field]) : -1);
const ratioShare = (r) => `${Math.round(Number(r) * 100)} %`;
// manager.report's conversion is deals won in the month ÷ leads created in it (not ÷ deals
// created): in percent to one decimal, so 1 won of 250 leads reads 0.4 %, not 0 %; rounded
// half up in integers from its ten-thousandths ("0.0125" is 1.3 %). Without leads there is
// none to show (the report's 0.0000), so "–".
function conversionShare(r) {
  if (r.leads === 0) return '–';
  const tenths = Math.floor((Number(r.conversion.replace('.', '')) + 5) / 10);
  return `${Math.floor(tenths / 10)}.${tenths % 10} %`;
}
const CONVERSION_HINT = 'Deals won in the month ÷ leads created in the month (not ÷ deals created)';

// The columns: id (?managers_sort=<id>, -<id> descending), head, how the cell reads, the
// value it sorts by.
const MANAGER_COLUMNS = [
  ['manager', 'Manager', (r) => managerName(r.manager_id), (r) => managerName(r.manager_id)],
  ['leads', 'Leads', (r) => r.leads, (r) => r.leads],
  ['answered', 'Answered', (r) => r.answered, (r) => r.answered],
  ['median', 'Median', (r) => duration(r.median_response_seconds), (r) => r.median_response_seconds ?? Infinity],
  ['p90', 'p90', (r) => duration(r.p90_response_seconds), (r) => r.p90_response_seconds ?? Infinity],
  ['within_15m', '≤ 15 min', (r) => ratioShare(r.share_within_15m), (r) => Number(r.share_within_15m)],
  ['within_30m', '≤ 30 min', (r) => ratioShare(r.share_within_30m), (r) => Number(r.share_within_30m)],
  ['idle', 'Gone idle', (r) => r.idle, (r) => r.idle],
  ['calls_made', 'Calls made', (r) => r.calls_made, (r) => r.calls_made],
  ['calls_answered', 'Calls answered', (r) => r.calls_answered, (r) => r.calls_answered],
  ['deals', 'Deals', (r) => r.deals_created, (r) => r.deals_created],
  ['won', 'Won', (r) => r.deals_won, (r) => r.deals_won],
  ['lost', 'Lost', (r) => r.deals_lost, (r) => r.deals_lost],
  ['conversion', 'Won ÷ leads', conversionShare, (r) => (r.leads === 0 ? -1 : Number(r.conversion))],
  ['average_won', 'Average won deal', (r) => moneyList(r.won, 'average'), (r) => firstAmount(r.won, 'average')],
  ['lost_manageable', 'Lost, manageable', (r) => moneyList(r.lost_manageable, 'amount'),
    (r) => firstAmount(r.lost_manageable, 'amount')],
  ['overdue', 'Overdue tasks', (r) => r.overdue_tasks, (r) => r.overdue_tasks],
];

// The sort: from the URL (?managers_sort=-leads), else by leads, most first; a click puts it
// in the URL, so a sorted table can be linked to.
const columnIndex = (id) => MANAGER_COLUMNS.findIndex((c) => c[0] === id);
let managerSort = (() => {
  const asked = params.get('managers_sort') || '-leads';
  const i = columnIndex(asked.replace(/^-/, ''));
  return i >= 0 ? { key: i, descending: asked.startsWith('-') } : { key: 1, descending: true };
})();

function sortBy(i, on) {
  managerSort = { key: i, descending: on ? !managerSort.descending : i !== 0 };
  const url = new URL(location.href);
  url.searchParams.set('managers_sort', (managerSort.descending ? '-' : '') + MANAGER_COLUMNS[i][0]);
  history.replaceState(null, '', url.pathname + url.search + url.hash);
  showManagers();
}

function managerHead() {
  const tr = document.createElement('tr');
  MANAGER_COLUMNS.forEach(([id, title], i) => {
    const th = document.createElement('th');
    const on = managerSort.key === i;
    th.textContent = title + (on ? (managerSort.descending ? ' ▼' : ' ▲') : '');
    th.className = (i ? 'num ' : '') + 'sortable';
    th.dataset.column = id;
    if (id === 'conversion') th.title = CONVERSION_HINT;
    th.setAttribute('aria-sort', on ? (managerSort.descending ? 'descending' : 'ascending') : 'none');
    th.addEventListener('click', () => sortBy(i, on));
    tr.append(th);
  });
  return tr;
}

function showManagers() {
  const by = MANAGER_COLUMNS[managerSort.key][3], sign = managerSort.descending ? -1 : 1;
  const sorted = managerReports.slice().sort((a, b) => {
    const x = by(a), y = by(b);
    const c = typeof x === 'string' ? x.localeCompare(y) : (x === y ? 0 : x - y);
    return c !== 0 ? sign * c : a.manager_id.localeCompare(b.manager_id); // ties: stable order
  });
  $('managers-head').replaceChildren(managerHead());
  fill($('manager-rows'), sorted.map((r) => row(...MANAGER_COLUMNS.map(([, , text], i) =>
    cell(String(text(r)), i ? 'num' : null)))), 'no manager reports yet', MANAGER_COLUMNS.length);
}

async function loadManagers() {
  const tenant = $('tenant').value || wantedTenant;
  const [period] = ($('period').value || '').split(':');
  const month = (period || '').slice(0, 7);
  const path = `/api/managers?tenant=${encodeURIComponent(tenant)}`;
  let reply = /^\d{4}-\d{2}$/.test(month) ? await api(`${path}&month=${month}`) : null;
  if (!reply || reply.managers.length === 0) reply = await api(path); // none that month: the latest
  managerReports = reply ? reply.managers : [];
  $('managers-month').textContent = reply && reply.period ? reply.period : '–';
  showManagers();
}

$('controls').addEventListener('change', loadManagers);
loadManagers();
setInterval(loadManagers, 5000);
