// The "What the leaks cost" card: /api/leak-estimate, the seed's calculator on the tenant's
// observed month, every input shown so the arithmetic can be checked. Uses dashboard.js's
// $, api and money; every value goes in with textContent.
'use strict';

const CURRENCY_SIGNS = { RUB: '₽', KZT: '₸', USD: '$', EUR: '€', GBP: '£', UAH: '₴', BYN: 'Br' };

// "1 000 000 ₽": thousands separated, kopecks only when there are some, the sign after.
function moneySign(amount, currency) {
  return money(amount, null) + ' ' + (CURRENCY_SIGNS[currency] || currency || '');
}

const ratioPercent = (ratio) => (Number(ratio) * 100).toFixed(2).replace(/\.?0+$/, '') + ' %';
const count = (n) => money(String(n), null);

// The calculator's lines: what, how it is computed, the result.
function estimateLines(e) {
  const m = (x) => moneySign(x, e.currency);
  return [
    ['Incoming requests', `${count(e.leads)} leads + ${count(e.untracked)} untracked contacts`,
      count(e.incoming)],
    ['Lost on the way', `${count(e.untracked)} untracked + ${count(e.unanswered)} never answered`,
      `${count(e.lost_leads)} (${ratioPercent(e.lost_share)})`],
    ['Conversion', `${count(e.won_deals)} won ÷ ${count(e.window_leads)} leads, last ${e.window_days} d`,
      ratioPercent(e.conversion)],
    ['Average won deal', `over the same ${count(e.won_deals)} deals`, m(e.average_deal)],
    ['Lost deals', `${count(e.lost_leads)} × ${ratioPercent(e.conversion)}`, e.lost_deals],
    ['Lost revenue', `${e.lost_deals} × ${m(e.average_deal)}`, m(e.lost_revenue)],
    ['Lost margin a month', `${m(e.lost_revenue)} × ${e.margin} margin`, m(e.lost_margin)],
    ['Lost margin a year', `${m(e.lost_margin)} × 12`, m(e.lost_margin_per_year)],
    ['Lifetime value lost', `${m(e.lost_revenue)} × ${e.lifetime_purchases} purchases`,
      m(e.lost_lifetime_value)],
  ];
}

async function loadEstimate() {
  const tenant = $('tenant').value || wantedTenant;
  const reply = await api(`/api/leak-estimate?tenant=${encodeURIComponent(tenant)}`);
  const estimates = reply ? reply.estimates : [];
  const select = $('estimate-month');
  const keyOf = (e) => `${e.period}:${e.currency}`;
  const current = select.value;
  select.replaceChildren(...estimates.slice().reverse()
    .map((e) => new Option(`${e.period} · ${e.currency}`, keyOf(e))));
  if (estimates.some((e) => keyOf(e) === current)) select.value = current;
  const e = estimates.find((x) => keyOf(x) === select.value);
  $('estimate-headline').textContent = e ? moneySign(e.lost_margin, e.currency) : '–';
  $('estimate-year').textContent = e ? moneySign(e.lost_margin_per_year, e.currency) : '–';
  const rows = (e ? estimateLines(e) : []).map(([what, how, result]) =>
    row(cell(what), cell(how, 'muted'), cell(result, 'num')));
  fill($('estimate-rows'), rows, 'no estimate yet', 3);
}

$('estimate-month').addEventListener('change', loadEstimate);
$('controls').addEventListener('change', loadEstimate);
loadEstimate();
setInterval(loadEstimate, 5000);
