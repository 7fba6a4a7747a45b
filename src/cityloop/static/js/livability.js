// 15-minute circle page: residential areas coloured by whether the selected facility type is
// within the walking threshold, the facilities of that type, and coverage per street/town (ECharts).
window.cityloopLivability = (function () {
  async function getJSON(url) {
    const resp = await fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    const body = await resp.json();
    if (!resp.ok) throw new Error(body.error ? body.error.message : resp.statusText);
    return body;
  }

  function byArea(results) {
    // area id -> {area fields, per type result}; "_all" is covered only when every type is.
    const areas = new Map();
    for (const r of results) {
      let a = areas.get(r.residential_area_id);
      if (!a) {
        a = { id: r.residential_area_id, name: r.residential_area, lon: r.lon, lat: r.lat, street: r.street_town,
          population: r.population, elderly: r.elderly_population, types: {}, all: true };
        areas.set(a.id, a);
      }
      a.types[r.type] = r;
      a.all = a.all && r.covered;
    }
    return [...areas.values()];
  }

  function drawChart(el, coverage, type) {
    const rows = coverage.filter((c) => c.type === type && c.unit !== '*');
    const chart = echarts.getInstanceByDom(el) || echarts.init(el);
    chart.setOption({
      tooltip: cityloop.chartTip({ trigger: 'axis', valueFormatter: (v) => v + '%' }),
      legend: { data: [el.dataset.labelPop, el.dataset.labelEld] },
      grid: { left: 90, right: 20, top: 40, bottom: 30 },
      xAxis: { type: 'value', max: 100, axisLabel: { formatter: '{value}%' } },
      yAxis: { type: 'category', data: rows.map((r) => r.unit_name) },
      series: [
        { name: el.dataset.labelPop, type: 'bar', data: rows.map((r) => Math.round((r.population_share || 0) * 100)) },
        { name: el.dataset.labelEld, type: 'bar', data: rows.map((r) => Math.round((r.elderly_share || 0) * 100)) },
      ],
    }, true);
    el.dataset.bars = String(rows.length);
  }

  async function accessibilityPage() {
    const { el, map } = cityloopMap.baseMap('map');
    const status = document.getElementById(el.dataset.statusId);
    const select = document.getElementById('type-select');
    const chartEl = document.getElementById('chart');
    const coverage = JSON.parse(document.getElementById('coverage-data').textContent);
    let results, facilities, streets;
    try {
      [results, facilities, streets] = await Promise.all([
        getJSON('/api/v1/livability/accessibility/results'),
        getJSON('/api/v1/livability/facilities'),
        getJSON(el.dataset.unitsUrl).catch(() => []),
      ]);
    } catch (err) {
      status.textContent = err.message;
      return;
    }
    const areas = byArea(results);
    const outline = L.geoJSON({ type: 'FeatureCollection', features: streets.filter((u) => u.geometry)
      .map((u) => ({ type: 'Feature', geometry: u.geometry, properties: { name: u.name } })) },
    { style: cityloopMap.STYLES.street, interactive: false }).addTo(map);
    const areaLayer = L.layerGroup().addTo(map);
    const facLayer = L.layerGroup().addTo(map);

    function draw() {
      const type = select.value;
      areaLayer.clearLayers();
      facLayer.clearLayers();
      let gaps = 0;
      for (const a of areas) {
        const r = a.types[type];
        const covered = type === '_all' ? a.all : r && r.covered;
        if (!covered) gaps += 1;
        const minutes = r && r.minutes !== null ? r.minutes.toFixed(1) + ' min' : '';
        L.circleMarker([a.lat, a.lon], {
          radius: 3 + Math.sqrt(a.population) / 15, color: covered ? '#15803d' : '#dc2626', weight: 1,
          fillOpacity: 0.6, className: covered ? 'area-covered' : 'area-gap',
        }).bindTooltip(cityloop.text('span', `${a.name} · ${a.population} / ${a.elderly} ${minutes}`)).addTo(areaLayer);
      }
      for (const f of facilities) {
        if (type !== '_all' && f.type !== type) continue;
        L.circleMarker([f.lat, f.lon], { radius: 4, color: '#1d4ed8', fillOpacity: 1, weight: 1, className: 'facility' })
          .bindTooltip(cityloop.text('span', f.name)).addTo(facLayer);
      }
      el.dataset.areaCount = String(areas.length);
      el.dataset.gapCount = String(gaps);
      status.textContent = (el.dataset.labelLoaded || '').replace('{areas}', areas.length).replace('{gaps}', gaps);
      drawChart(chartEl, coverage, type);
    }

    select.addEventListener('change', draw);
    draw();
    const bounds = outline.getLayers().length ? outline.getBounds() : L.latLngBounds(areas.map((a) => [a.lat, a.lon]));
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [10, 10] });
    if (facilities.some((f) => f.schematic) || streets.some((u) => u.geometry_schematic)) {
      const note = L.control({ position: 'bottomleft' });
      note.onAdd = () => { const d = L.DomUtil.create('div', 'map-note'); d.textContent = el.dataset.labelSchematic; return d; };
      note.addTo(map);
    }
    el.classList.add('loaded');
  }

  cityloop.boot('accessibility', () => accessibilityPage());
  return { accessibilityPage };
})();
