// Case intelligence on the pages: the hotspot map, and a task's reports per week before and after its
// acceptance. Text from the server goes in as text (cityloop.text, cityloop.chartTip).
(function () {
  'use strict';

  function hotspotMap(mapEl) {
    const { el, map } = cityloopMap.baseMap(mapEl.id);
    const pts = JSON.parse(document.getElementById(mapEl.dataset.points).textContent);
    const top = Math.max(1, ...pts.map((p) => p.heat));
    const layer = L.featureGroup(pts.map((p) => L.circleMarker([p.lat, p.lon], { radius: 5 + 15 * Math.sqrt(p.heat / top), color: '#dc2626', fillOpacity: 0.5 })
      .bindTooltip(cityloop.text('span', '#' + p.rank + ' ' + (p.place || '') + ' ' + p.summary))));
    layer.addTo(map);
    if (pts.length) map.fitBounds(layer.getBounds(), { padding: [20, 20] });
    el.dataset.count = String(pts.length);
    el.classList.add('loaded');
  }

  // <section data-boot="before-after" data-task="ID" data-summary="catalogue text with {before} {after} {radius} {pivot}">
  function beforeAfter(box) {
    fetch('/api/v1/insight/tasks/' + box.dataset.task + '/before-after', { credentials: 'same-origin' })
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then((d) => {
        const chart = echarts.init(box.querySelector('.before-after-chart'));
        chart.setOption({
          tooltip: cityloop.chartTip({ trigger: 'axis' }),
          grid: { left: 30, right: 10, top: 10, bottom: 40 },
          xAxis: { type: 'category', data: d.weeks.map((w) => w.week_start.slice(5)) },
          yAxis: { type: 'value', minInterval: 1 },
          series: [{ type: 'bar', data: d.weeks.map((w) => ({ value: w.count, itemStyle: { color: w.side === 'before' ? '#dc2626' : '#15803d' } })),
            markLine: { symbol: 'none', data: [{ xAxis: d.weeks.findIndex((w) => w.side === 'after') }] } }],
        });
        box.querySelector('.before-after-summary').textContent = box.dataset.summary
          .replace('{before}', d.before_per_week).replace('{after}', d.after_per_week ?? '-')
          .replace('{radius}', d.radius_m).replace('{pivot}', d.pivot.slice(0, 10));
        box.classList.add('loaded');
      })
      .catch(() => { box.hidden = true; });
  }

  cityloop.boot('hotspot-map', hotspotMap);
  cityloop.boot('before-after', beforeAfter);
})();
