// The one way text reaches the page from JavaScript (decision 0014). Names, addresses, notes… are
// written by people and may hold markup; none of it may ever be parsed as HTML.
//
//   cityloop.text(tag, text, attrs)  an element whose content is `text` as text (the first choice:
//                                    Leaflet tooltips and popups take elements too)
//   cityloop.html`<b>${name}</b>`    an HTML string whose every ${hole} is escaped, for the places a
//                                    library wants a string (Leaflet layer-control names, ECharts
//                                    tooltip formatters, divIcon html); holes are always text, never
//                                    markup — escape once, where the string is made
//   cityloop.esc(value)              one value escaped, for the same places
//   cityloop.chartTip({...})         an ECharts `tooltip` option whose content is built from text
//   cityloop.fragment(el, html)      only for fragments our own (autoescaping) templates rendered
//
// Pages load this file first (templates/core/base.html); the Content-Security-Policy keeps any
// mistake from running script, this keeps it from showing up as markup.
(function () {
  'use strict';
  const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

  function esc(value) {
    if (value === null || value === undefined) return '';
    return String(value).replace(/[&<>"'`]/g, (c) => ENTITIES[c]);
  }

  // A tagged template: html`<b>${a}</b> · ${b}`. An array in a hole is escaped item by item and joined.
  function html(strings, ...values) {
    let out = strings[0];
    values.forEach((v, i) => {
      out += (Array.isArray(v) ? v.map(esc).join('') : esc(v)) + strings[i + 1];
    });
    return out;
  }

  // Links may only go to this site or to http(s): never javascript:, data: or the like.
  function safeHref(href) {
    const url = new URL(String(href), window.location.href);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : '#';
  }

  function text(tag, value, attrs) {
    const el = document.createElement(tag);
    el.textContent = value === null || value === undefined ? '' : String(value);
    for (const [name, v] of Object.entries(attrs || {})) {
      if (/^on/i.test(name)) throw new Error('cityloop.text: no event-handler attributes');
      if (name === 'className') el.className = v;
      else el.setAttribute(name, name === 'href' || name === 'src' ? safeHref(v) : String(v));
    }
    return el;
  }

  // Server-rendered fragments (autoescaped by Jinja) put into a container. Parsed with DOMParser, which
  // runs nothing, and the CSP forbids inline handlers anyway.
  function fragment(el, markup) {
    const doc = new DOMParser().parseFromString(String(markup), 'text/html');
    el.replaceChildren(...doc.body.childNodes);
  }

  // ECharts tooltips built as elements from text. ECharts' own tooltip markup carries style attributes
  // (refused by the style-src of the CSP) and a formatter's string is parsed as HTML; an element is
  // neither. `valueFormatter` formats a value, `line(first)` replaces the whole tooltip by one line.
  // Confined: an unconfined item tooltip adds an arrow drawn with a style attribute.
  function chartTip(options) {
    const { valueFormatter, line, ...rest } = options || {};
    const show = valueFormatter || ((v) => (v === null || v === undefined ? '—' : String(v)));
    const formatter = (params) => {
      const list = Array.isArray(params) ? params : [params];
      const box = text('div', '', { className: 'chart-tip' });
      if (!list.length) return box;
      if (line) {
        box.appendChild(text('div', line(list[0])));
        return box;
      }
      const head = list[0].axisValueLabel !== undefined ? list[0].axisValueLabel : list[0].name;
      if (head !== undefined && head !== '') box.appendChild(text('div', head, { className: 'chart-tip-head' }));
      for (const p of list) {
        const dot = text('span', '', { className: 'chart-tip-dot' });
        dot.style.background = typeof p.color === 'string' ? p.color : '#64748b';  // CSSOM: allowed by the CSP
        const value = Array.isArray(p.value) ? p.value[p.value.length - 1] : p.value;
        const row = text('div', '', { className: 'chart-tip-row' });
        row.append(dot, text('span', p.seriesName || ''), text('b', show(value)));
        box.appendChild(row);
      }
      return box;
    };
    return Object.assign({ confine: true, formatter }, rest);
  }

  window.cityloop = Object.assign(window.cityloop || {}, { esc, html, text, fragment, safeHref, chartTip });
})();
