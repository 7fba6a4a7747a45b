// 挂图作战: the battle map. Every task's place coloured by status on a canvas-rendered Leaflet map,
// filters by action/unit/status (refetched from the compact JSON endpoint), the milestone Gantt
// beside it and the per-action progress charts (ECharts). Names are always set as text, never HTML
// (cityloop.text and cityloop.chartTip, safe.js).
window.battleMap = (function () {
  const COLOURS = { green: '#16a34a', yellow: '#eab308', red: '#dc2626', done: '#2563eb' };
  const API = '/api/v1/programme';
  let map, layer, gantt, statusChart, monthlyChart, firstFit = true, requestSeq = 0, viewportMode = false;

  const textEl = (tag, text, cls) => cityloop.text(tag, text, cls ? { className: cls } : {});

  async function getJSON(url) {
    const resp = await fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    const body = await resp.json();
    if (!resp.ok) throw new Error(body.error ? body.error.message : resp.statusText);
    return body;
  }

  // The programme shown (the switcher's choice); sent to the API, not part of the filters.
  function programmeQs() {
    const programme = document.getElementById('bm-filters').dataset.programme;
    return programme ? 'programme=' + encodeURIComponent(programme) : '';
  }

  function filters() {
    const p = new URLSearchParams();
    for (const id of ['action', 'unit', 'status']) {
      const v = document.getElementById('f-' + id).value;
      if (v) p.set(id, v);
    }
    return p;
  }

  // The map rows carry no names: the popup asks for the one task it shows.
  function popup(id, el) {
    const labels = JSON.parse(el.dataset.statusLabels);
    const box = textEl('div', '', 'task-popup');
    const details = textEl('div', '…');
    box.appendChild(details);
    const a = textEl('a', el.dataset.labelOpen, 'open-task');
    a.href = '/programme/tasks/' + id;
    box.appendChild(a);
    getJSON(API + '/tasks/' + id).then((t) => {
      details.textContent = '';
      details.appendChild(textEl('b', t.code + ' ' + t.name));
      details.appendChild(textEl('div', t.responsible_unit.name + ' · ' + t.responsible_person.name));
      details.appendChild(textEl('div', (labels[t.status] || t.status) + ' · ' + t.progress_pct + '%'));
    }).catch((e) => { details.textContent = e.message; });
    return box;
  }

  function drawTasks(data, el) {
    const renderer = L.canvas({ padding: 0.3 });
    const labels = JSON.parse(el.dataset.statusLabels);
    if (layer) layer.remove();
    layer = L.featureGroup();
    const c = data.columns;
    for (let i = 0; i < data.count; i++) {
      const id = c.id[i];
      const colour = COLOURS[c.status[i]] || '#64748b';
      const shape = data.shapes && data.shapes[String(id)];
      let item;
      if (shape && shape.type.endsWith('LineString')) {
        item = L.geoJSON(shape, { renderer, style: { color: colour, weight: 4, opacity: 0.9 } });
      } else if (shape && shape.type.endsWith('Polygon')) {
        item = L.geoJSON(shape, { renderer, style: { color: colour, weight: 2, fillColor: colour, fillOpacity: 0.35 } });
      } else {
        item = L.circleMarker([c.lat_e5[i] / 1e5, c.lon_e5[i] / 1e5], {
          renderer, radius: 6, color: '#fff', weight: 1, fillColor: colour, fillOpacity: 0.9,
        });
      }
      item.bindTooltip(textEl('span', (labels[c.status[i]] || c.status[i]) + ' · ' + c.pct[i] + '%'), { sticky: true });
      item.bindPopup(() => popup(id, el));
      layer.addLayer(item);
    }
    layer.addTo(map);
    if (firstFit && data.count) {
      map.fitBounds(layer.getBounds(), { padding: [20, 20], maxZoom: 14, animate: false });
      firstFit = false;
    }
  }

  // Too many tasks in view: one marker per grid cell with its count, coloured by its worst status;
  // a click zooms in, and the page then asks for the tasks of the smaller view.
  function drawClusters(data, el) {
    const labels = JSON.parse(el.dataset.statusLabels);
    if (layer) layer.remove();
    layer = L.featureGroup();
    const c = data.clusters;
    for (let i = 0; i < c.n.length; i++) {
      const worst = ['red', 'yellow', 'green', 'done'].find((s) => c[s][i] > 0) || 'green';
      const size = Math.round(26 + 6 * Math.log10(c.n[i]));
      const html = textEl('div', String(c.n[i]), 'cluster cl-' + worst);
      html.style.width = html.style.height = html.style.lineHeight = size + 'px';
      const ll = [c.lat_e5[i] / 1e5, c.lon_e5[i] / 1e5];
      const marker = L.marker(ll, { icon: L.divIcon({ html, className: '', iconSize: [size, size] }) });
      const parts = ['red', 'yellow', 'green', 'done'].filter((s) => c[s][i]).map((s) => labels[s] + ' ' + c[s][i]);
      marker.bindTooltip(textEl('span', el.dataset.labelCluster.replace('{n}', c.n[i]) + ':' + parts.join(' · ')));
      marker.on('click', () => map.setView(ll, Math.min(map.getZoom() + 2, 18)));
      layer.addLayer(marker);
    }
    layer.addTo(map);
    if (firstFit && c.n.length) {
      map.fitBounds(layer.getBounds(), { padding: [20, 20], maxZoom: 14, animate: false });
      firstFit = false;
    }
  }

  function viewParams() {
    const b = map.getBounds();
    const box = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5));
    const cell = (360 / Math.pow(2, map.getZoom())) * (60 / 256);
    return 'bbox=' + box.join(',') + '&cell=' + cell.toFixed(6);
  }

  async function drawAreas() {
    try {
      const units = await getJSON('/api/v1/units');
      const feats = units.filter((u) => u.geometry && ['district', 'street', 'town'].includes(u.kind)).map((u) => ({
        type: 'Feature', geometry: u.geometry, properties: { kind: u.kind, name: u.name, schematic: u.geometry_schematic },
      }));
      L.geoJSON({ type: 'FeatureCollection', features: feats }, {
        interactive: false,
        style: (ft) => (ft.properties.kind === 'district'
          ? { color: '#1d4ed8', weight: 2, fill: false }
          : { color: '#94a3b8', weight: 1, fillOpacity: 0.03 }),
      }).addTo(map);
      if (feats.some((ft) => ft.properties.schematic)) {
        const note = L.control({ position: 'bottomleft' });
        note.onAdd = () => textEl('div', document.getElementById('bmap').dataset.labelSchematic, 'map-note');
        note.addTo(map);
      }
    } catch (e) { /* the task layer works without the outlines */ }
  }

  function drawGantt(data) {
    const el = document.getElementById('gantt');
    const tasks = data.tasks.slice().reverse();
    el.style.height = Math.max(160, tasks.length * 22 + 70) + 'px';
    gantt.resize();
    document.getElementById('gantt-note').textContent = el.dataset.labelShown
      .replace('{shown}', data.shown).replace('{total}', data.total);
    const day = (s) => new Date(s + 'T00:00:00').getTime();
    const today = new Date();
    today.setHours(0, 0, 0, 0);
    const bars = tasks.map((t, i) => ({ value: [i, day(t.starts_on), day(t.due_on)], id: t.id, status: t.status, name: t.name }));
    const done = [], late = [], upcoming = [];
    tasks.forEach((t, i) => t.milestones.forEach((m) => {
      const point = { value: [day(m.done_on || m.due_on), i], id: t.id, name: t.name + ' · ' + m.seq + '. ' + m.name + ' (' + m.due_on + ')' };
      if (m.done_on) done.push(point);
      else if (day(m.due_on) < today.getTime()) late.push(point);
      else upcoming.push(point);
    }));
    gantt.setOption({
      animation: false,
      grid: { left: 150, right: 16, top: 24, bottom: 24 },
      tooltip: cityloop.chartTip({ line: (p) => (p.data && p.data.name) || '' }),
      xAxis: { type: 'time', position: 'top', splitLine: { show: true } },
      yAxis: { type: 'category', data: tasks.map((t) => t.name), axisLabel: { width: 140, overflow: 'truncate' } },
      series: [
        {
          type: 'custom', encode: { x: [1, 2], y: 0 }, data: bars,
          renderItem: (params, api) => {
            const start = api.coord([api.value(1), api.value(0)]);
            const end = api.coord([api.value(2), api.value(0)]);
            const h = api.size([0, 1])[1] * 0.5;
            const d = bars[params.dataIndex];
            return { type: 'rect', shape: { x: start[0], y: start[1] - h / 2, width: Math.max(2, end[0] - start[0]), height: h },
              style: { fill: COLOURS[d.status] || '#94a3b8', opacity: 0.35 } };
          },
          markLine: { silent: true, symbol: 'none', data: [{ xAxis: today.getTime(), label: { formatter: document.getElementById('gantt').dataset.labelToday } }], lineStyle: { color: '#0f172a', type: 'dashed' } },
        },
        { type: 'scatter', data: done, symbol: 'circle', symbolSize: 8, itemStyle: { color: '#15803d' } },
        { type: 'scatter', data: late, symbol: 'diamond', symbolSize: 11, itemStyle: { color: '#dc2626' } },
        { type: 'scatter', data: upcoming, symbol: 'emptyCircle', symbolSize: 8, itemStyle: { color: '#334155' } },
      ],
    }, true);
  }

  function drawCharts(stats) {
    const st = document.getElementById('chart-status');
    const names = stats.actions.map((a) => a.name);
    const series = ['red', 'yellow', 'green', 'done'].map((s) => ({
      name: JSON.parse(document.getElementById('bmap').dataset.statusLabels)[s], type: 'bar', stack: 'n',
      itemStyle: { color: COLOURS[s] }, data: stats.actions.map((a) => a.counts[s] || 0),
    }));
    series.push({ name: st.dataset.labelProgress, type: 'line', xAxisIndex: 1, data: stats.actions.map((a) => a.progress), itemStyle: { color: '#0f172a' } });
    statusChart.setOption({
      animation: false, tooltip: cityloop.chartTip({ trigger: 'axis' }), legend: { top: 0 },
      grid: { left: 150, right: 40, top: 50, bottom: 30 },
      xAxis: [{ type: 'value' }, { type: 'value', max: 100, position: 'top', axisLabel: { formatter: '{value}%' } }],
      yAxis: { type: 'category', data: names, axisLabel: { width: 140, overflow: 'truncate' } },
      series,
    }, true);
    const mo = document.getElementById('chart-monthly');
    monthlyChart.setOption({
      animation: false, tooltip: cityloop.chartTip({ trigger: 'axis' }), legend: { top: 0 },
      grid: { left: 40, right: 16, top: 40, bottom: 30 },
      xAxis: { type: 'category', data: stats.months.map((m) => m + '') },
      yAxis: { type: 'value' },
      series: [
        { name: mo.dataset.labelPlanned, type: 'bar', data: stats.planned, itemStyle: { color: '#94a3b8' } },
        { name: mo.dataset.labelDone, type: 'bar', data: stats.done, itemStyle: { color: '#16a34a' } },
      ],
    }, true);
  }

  // fromMove: the user panned or zoomed while the map shows clusters; only the map layer changes.
  async function refresh(fromMove) {
    const el = document.getElementById('bmap');
    const seq = ++requestSeq;
    const qs = filters().toString();
    if (!fromMove) {
      viewportMode = false;
      history.replaceState(null, '', location.pathname + (qs ? '?' + qs : ''));
      el.classList.remove('loaded');
    }
    const apiQs = [programmeQs(), qs].filter((part) => part).join('&');
    const mapQs = viewportMode ? (apiQs ? apiQs + '&' : '') + viewParams() : apiQs;
    const count = document.getElementById('bm-count');
    try {
      const calls = [getJSON(API + '/map?' + mapQs)];
      if (!fromMove) calls.push(getJSON(API + '/map/timeline?' + apiQs), getJSON(API + '/stats?' + apiQs));
      const [data, timeline, stats] = await Promise.all(calls);
      if (seq !== requestSeq) return; // a newer request is already on its way
      if (data.mode === 'clusters') {
        viewportMode = true;
        drawClusters(data, el);
      } else {
        drawTasks(data, el);
      }
      if (!fromMove) {
        drawGantt(timeline);
        drawCharts(stats);
      }
      el.dataset.count = String(data.count);
      el.dataset.mode = data.mode;
      el.dataset.filters = qs;
      const label = data.mode === 'clusters' ? el.dataset.labelClustered : el.dataset.labelCount;
      count.textContent = label.replace('{count}', data.count);
      el.classList.add('loaded');
    } catch (e) {
      count.textContent = e.message;
    }
  }

  async function fillUnits() {
    const sel = document.getElementById('f-unit');
    try {
      const pq = programmeQs();
      const legend = await getJSON(API + '/map/legend' + (pq ? '?' + pq : ''));
      for (const u of legend.units) {
        const o = textEl('option', u.name);
        o.value = u.code;
        sel.appendChild(o);
      }
    } catch (e) { /* the filter stays at "all" */ }
    if (sel.dataset.selected) sel.value = sel.dataset.selected;
  }

  async function init() {
    const el = document.getElementById('bmap');
    map = L.map(el, { preferCanvas: true, zoomSnap: 0.25 });
    if (el.dataset.tileUrl) L.tileLayer(el.dataset.tileUrl, { attribution: el.dataset.tileAttribution || '', maxZoom: 19 }).addTo(map);
    map.setView([29.45, 106.4], 11);
    gantt = echarts.init(document.getElementById('gantt'));
    statusChart = echarts.init(document.getElementById('chart-status'));
    monthlyChart = echarts.init(document.getElementById('chart-monthly'));
    const go = (params) => { if (params.data && params.data.id) location.href = '/programme/tasks/' + params.data.id; };
    gantt.on('click', go);
    drawAreas();
    await fillUnits();
    for (const id of ['f-action', 'f-unit', 'f-status']) document.getElementById(id).addEventListener('change', () => refresh(false));
    map.on('moveend', () => { if (viewportMode) refresh(true); });
    window.addEventListener('resize', () => { gantt.resize(); statusChart.resize(); monthlyChart.resize(); });
    await refresh(false);
  }

  function taskMap(id) {
    const el = document.getElementById(id);
    const m = L.map(el, { zoomSnap: 0.25 });
    if (el.dataset.tileUrl) L.tileLayer(el.dataset.tileUrl, { attribution: el.dataset.tileAttribution || '', maxZoom: 19 }).addTo(m);
    const colour = COLOURS[el.dataset.status] || '#64748b';
    const g = L.geoJSON(JSON.parse(el.dataset.place), {
      style: { color: colour, weight: 4, fillOpacity: 0.35 },
      pointToLayer: (f, ll) => L.circleMarker(ll, { radius: 8, fillColor: colour, color: '#fff', fillOpacity: 0.9 }),
    }).addTo(m);
    m.fitBounds(g.getBounds(), { maxZoom: 15, padding: [30, 30] });
    el.classList.add('loaded');
  }

  // For the page's own tests and for embedding: the Leaflet map and what the task layer holds.
  const view = () => ({ map, layers: layer ? layer.getLayers() : [] });

  cityloop.boot('battle-map', () => init());
  cityloop.boot('task-map', (el) => taskMap(el.id));
  return { init, taskMap, view, COLOURS };
})();
