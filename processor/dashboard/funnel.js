// The funnel card (funnel.summary through /api/funnel): per stage a bar as long as the share
// of the money that entered the top, then the money lost between stages in the sales team's
// words ("lost between Proposal and Negotiation: 13 %, 412 000"), and the conversion from
// the first stage to won per manager and per channel. Loaded before dashboard.js, whose
// refresh() calls loadFunnel; every text goes in through textContent, never as HTML.
'use strict';

const percent = (share) => (share === null || share === undefined ? '–' : `${Math.round(share * 100)} %`);

function element(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function funnelBars(summary) {
  const list = element('div', 'funnel-bars');
  for (const s of summary.stages) {
    const bar = element('div', 'funnel-bar');
    const fill = element('span', 'funnel-fill');
    fill.style.width = `${Math.max(0, Math.min(1, s.money_share.top || 0)) * 100}%`;
    bar.append(fill, element('span', 'funnel-label',
      `${s.stage}: ${money(s.entered.amount, summary.currency)} (${s.entered.count} deals, ${percent(s.money_share.top)})`));
    list.append(bar);
  }
  const won = element('div', 'funnel-bar won');
  const fill = element('span', 'funnel-fill');
  fill.style.width = `${(summary.money_conversion || 0) * 100}%`;
  won.append(fill, element('span', 'funnel-label',
    `won: ${money(summary.won.amount, summary.currency)} (${summary.won.count} deals, ${percent(summary.money_conversion)})`));
  list.append(won);
  return list;
}

// "lost between A and B: 13 %, 412 000"; the last stage's: "lost at C, never won: ...".
function dropWords(d, currency) {
  const where = d.to === 'won' ? `lost at ${d.from}, never won` : `lost between ${d.from} and ${d.to}`;
  return `${where}: ${percent(d.share)}, ${money(d.amount, currency)}`;
}

function conversionRows(rows, key, name) {
  return rows.map((r) => row(cell(name(r[key])), cell(r.deals, 'num'), cell(r.won.count, 'num'),
    cell(percent(r.conversion), 'num'), cell(percent(r.money_conversion), 'num')));
}

function funnelSummary(summary) {
  const box = element('div', 'funnel-summary');
  box.append(element('h3', null, `${summary.pipeline} · ${summary.period} · ${summary.currency}`),
    funnelBars(summary));
  const drops = element('ul', 'funnel-drops');
  for (const d of summary.drops) {
    if (d.count !== 0 || d.amount !== '0.00') drops.append(element('li', null, dropWords(d, summary.currency)));
  }
  box.append(drops);
  for (const [title, rows, key, name] of [
    ['By manager', summary.by_manager, 'manager_id', managerName],
    ['By channel', summary.by_channel, 'channel', (c) => (c === '-' ? '–' : c)]]) {
    const table = element('table');
    const head = row(...['', 'Deals', 'Won', 'Conversion', 'By money'].map((t, i) => {
      const th = element('th', i ? 'num' : null, i ? t : title);
      return th;
    }));
    const body = element('tbody');
    fill(body, conversionRows(rows, key, name), 'no deals', 5);
    table.append(element('thead'), body);
    table.firstChild.append(head);
    box.append(table);
  }
  return box;
}

async function loadFunnel(tenant) {
  const pipeline = params.get('pipeline') || 'default';
  const [period] = ($('period').value || '').split(':');
  const month = /^\d{4}-\d{2}$/.test(period) ? period : (period || '').slice(0, 7);
  let reply = await api(`/api/funnel?tenant=${encodeURIComponent(tenant)}` +
                        `&pipeline=${encodeURIComponent(pipeline)}` + (month ? `&period=${month}` : ''));
  if (reply && reply.summaries.length === 0 && month) { // no deals that month: the latest one
    reply = await api(`/api/funnel?tenant=${encodeURIComponent(tenant)}&pipeline=${encodeURIComponent(pipeline)}`);
  }
  const summaries = reply ? reply.summaries : [];
  const box = $('funnel-body');
  box.replaceChildren(...summaries.map(funnelSummary));
  if (summaries.length === 0) box.append(element('p', 'muted', 'no deals in the funnel yet'));
}
