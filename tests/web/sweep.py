"""Drive every map feature and chart element of a page in Chromium, and watch for scripts that run.

``watch(page)`` installs, before any page script: a ``xss(n)`` function the planted payloads call, a
``securitypolicyviolation`` listener, and a hook that keeps every Leaflet map the page makes (Leaflet
keeps no list of its own). Both report to Python through Playwright bindings, so what happens on a page
is still counted after a click navigated away. Playwright's init scripts are not subject to the page's
CSP.

``sweep(page)`` then, for every Leaflet map: moves the real mouse over each feature that has a tooltip
or a popup (planted ones first) and clicks it; and, through Leaflet's own API, opens the tooltip and
the popup of every feature, collecting their text. For every ECharts chart it shows the tooltip of
every data item (``showTip``, the code path of a hover) and collects it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

INIT = r"""
(() => {
  window.xss = (n) => { window.__xssHit(String(n)); };
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__cspViolation(JSON.stringify({ directive: e.violatedDirective, blocked: e.blockedURI,
      sample: e.sample, source: e.sourceFile, line: e.lineNumber, page: location.pathname }));
  });
  window.__leafletMaps = [];
  // Where a feature is: a marker's point, a shape's centre.
  window.__where = (l, fallback) => (l.getLatLng ? l.getLatLng()
    : (l.getBounds && l.getBounds().isValid() ? l.getBounds().getCenter() : fallback));
  let leaflet;
  Object.defineProperty(window, 'L', {
    configurable: true,
    get() { return leaflet; },
    set(value) {
      leaflet = value;
      if (value && value.Map && value.Map.addInitHook && !value.__swept) {
        value.__swept = true;
        value.Map.addInitHook(function () { window.__leafletMaps.push(this); });
      }
    },
  });
})();
"""

# Every feature with a tooltip or a popup: where it is on the screen, planted ones first.
TARGETS = r"""
(limit) => {
  const out = [];
  (window.__leafletMaps || []).forEach((map, m) => {
    const box = map.getContainer().getBoundingClientRect();
    const size = map.getSize();
    map.eachLayer((l) => {
      if (!(l.getTooltip && l.getTooltip()) && !(l.getPopup && l.getPopup())) return;
      const ll = window.__where(l, null);
      if (!ll) return;
      const pt = map.latLngToContainerPoint(ll);
      if (!Number.isFinite(pt.x) || !Number.isFinite(pt.y)) return;
      if (pt.x < 2 || pt.y < 2 || pt.x > size.x - 2 || pt.y > size.y - 2) return;
      const tip = l.getTooltip && l.getTooltip() ? l.getTooltip().getContent() : '';
      const text = typeof tip === 'string' ? tip : (tip && tip.textContent) || '';
      out.push({ map: m, x: box.left + pt.x, y: box.top + pt.y, planted: /xss\(|«/.test(text) });
    });
  });
  out.sort((a, b) => Number(b.planted) - Number(a.planted));
  return out.slice(0, limit);
}
"""

# Open every tooltip and popup through Leaflet, and every chart tooltip through ECharts; return the texts.
OPEN_ALL = r"""
async () => {
  const seen = [];
  const popups = [];
  let features = 0;
  for (const map of window.__leafletMaps || []) {
    const layers = [];
    map.eachLayer((l) => layers.push(l));
    for (const l of layers) {
      const tip = l.getTooltip && l.getTooltip();
      const pop = l.getPopup && l.getPopup();
      if (!tip && !pop) continue;
      features += 1;
      const ll = window.__where(l, map.getCenter());
      if (tip) {
        l.fire('mouseover', { latlng: ll });
        if (tip.getElement()) seen.push(tip.getElement().textContent);
        l.fire('mouseout', { latlng: ll });
      }
      if (pop) {
        l.openPopup(ll);
        if (pop.getElement()) popups.push(pop.getElement());
        l.closePopup();
      }
    }
  }
  await new Promise((r) => setTimeout(r, popups.length ? 1500 : 0));  // popups that fetch their text
  for (const el of popups) seen.push(el.textContent);
  let items = 0;
  if (window.echarts) {
    for (const el of document.querySelectorAll('[_echarts_instance_]')) {
      const chart = window.echarts.getInstanceByDom(el);
      if (!chart) continue;
      (chart.getOption().series || []).forEach((s, si) => {
        const n = Math.min(Array.isArray(s.data) ? s.data.length : 0, 300);
        for (let i = 0; i < n; i++) {
          chart.dispatchAction({ type: 'showTip', seriesIndex: si, dataIndex: i });
          seen.push(el.textContent);
          items += 1;
        }
      });
      chart.dispatchAction({ type: 'hideTip' });
    }
  }
  return { seen, features, items, maps: (window.__leafletMaps || []).length };
}
"""

# What a payload that was parsed as HTML leaves behind: an on* attribute, or a script element of its own.
INJECTED = r"""
() => {
  const found = [];
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      const said = el.tagName + '[' + a.name + '=' + a.value + ']';
      if (/^on/i.test(a.name) && /xss|alert/.test(a.value)) found.push(said);
      const url = /^(href|src|action|formaction)$/i.test(a.name);
      if (url && /^\s*javascript:/i.test(a.value)) found.push(said);
    }
    const code = el.tagName === 'SCRIPT' && el.type !== 'application/json';
    if (code && /xss\(/.test(el.textContent)) found.push('SCRIPT ' + el.textContent.slice(0, 60));
  }
  return found;
}
"""


@dataclass
class Watch:
    hits: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


def watch(page: Any) -> Watch:
    w = Watch()
    page.expose_binding("__xssHit", lambda source, n: w.hits.append(f"{source['page'].url}: xss({n})"))
    page.expose_binding("__cspViolation", lambda source, v: w.violations.append(v))
    page.add_init_script(INIT)

    def on_dialog(dialog: Any) -> None:
        w.dialogs.append(f"{page.url}: {dialog.type} {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on(
        "console",
        lambda m: w.console_errors.append(f"{page.url}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: w.console_errors.append(f"{page.url}: {e}"))
    return w


def ready(page: Any, url: str) -> None:
    """Open ``url`` and wait until its maps and charts have drawn."""
    page.goto(url)
    page.wait_for_load_state("networkidle")
    for i in range(page.locator(".map").count()):
        page.locator(".map").nth(i).wait_for(state="attached")
        page.wait_for_function(
            "(i) => document.querySelectorAll('.map')[i].classList.contains('loaded')", arg=i, timeout=20000
        )


def _close_popups(page: Any) -> bool:
    """Close open popups; False when the page is navigating away (a click opened another page)."""
    from playwright.sync_api import Error

    try:
        page.evaluate("() => (window.__leafletMaps || []).forEach((m) => m.closePopup())")
    except Error:
        page.wait_for_load_state()
        return False
    return True


def sweep(page: Any, url: str, mouse_limit: int = 60) -> dict[str, Any]:
    """Hover and click the page's features with the mouse, then open every tooltip, popup and chart tip.
    Returns the collected texts (``seen``) and counts."""
    ready(page, url)
    for target in page.evaluate(TARGETS, mouse_limit):
        # Close the popup the last click opened: the next click must hit the map, not the popup's link.
        if not _close_popups(page):
            break
        page.mouse.move(target["x"], target["y"])
        page.mouse.click(target["x"], target["y"])
        if page.url.split("#")[0] != url.split("#")[0]:
            break
    page.wait_for_timeout(300)  # a navigation a click started arrives a moment later
    if page.url.split("#")[0] != url.split("#")[0] or not _close_popups(page):
        ready(page, url)  # a feature that opens its page (a leak, a task): back to this one
    for chart in page.locator("[_echarts_instance_]").all():
        box = chart.bounding_box()
        if not box:
            continue
        for fx in (0.2, 0.4, 0.6, 0.8):
            for fy in (0.3, 0.6):
                page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
    result: dict[str, Any] = page.evaluate(OPEN_ALL)
    result["injected"] = page.evaluate(INJECTED)
    result["text"] = page.evaluate("() => document.body.textContent")
    return result
