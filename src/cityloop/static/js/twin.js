// Twin map: draws a network (links, nodes, isolation valves) and its sensors from the JSON API,
// colours sensors by their open warning level and refreshes them every 15 s.
window.cityloopTwin = (function () {
  const LEVEL_COLOURS = { blue: '#2563eb', yellow: '#ca8a04', orange: '#ea580c', red: '#b91c1c' };
  const KIND_COLOURS = { water: '#2563eb', drainage: '#0f766e', gas: '#ea580c' };

  async function load(el) {
    const resp = await fetch(el.dataset.geojsonUrl, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    const body = await resp.json();
    if (!resp.ok) throw new Error(body.error ? body.error.message : resp.statusText);
    return body;
  }

  function sensorLayer(features) {
    return L.geoJSON({ type: 'FeatureCollection', features }, {
      pointToLayer: (f, latlng) => L.circleMarker(latlng, {
        radius: 7, weight: 2, color: '#0f172a',
        fillColor: LEVEL_COLOURS[f.properties.level] || '#22c55e', fillOpacity: 0.95,
      }),
      onEachFeature: (f, l) => {
        const p = f.properties;
        l.bindTooltip(cityloop.text('span', `${p.name || p.code}: ${p.last_value ?? '—'} ${p.measure_unit}`));
      },
    });
  }

  async function networkMap(id) {
    const { el, map } = cityloopMap.baseMap(id);
    const status = document.getElementById(el.dataset.statusId);
    let data;
    try { data = await load(el); } catch (err) { status.textContent = err.message; return map; }
    const colour = KIND_COLOURS[el.dataset.kind] || '#334155';
    const by = (layer) => data.features.filter((f) => f.properties.layer === layer);
    const links = L.geoJSON({ type: 'FeatureCollection', features: by('link') }, {
      style: (f) => ({ color: colour, weight: Math.max(1.5, Math.min(6, (f.properties.diameter_m || (f.properties.diameter_mm || 100) / 1000) * 12)) }),
      onEachFeature: (f, l) => l.bindTooltip(cityloop.text('span', `${f.properties.type} ${f.properties.ref}`), { sticky: true }),
    });
    const nodes = L.geoJSON({ type: 'FeatureCollection', features: by('node') }, {
      pointToLayer: (f, latlng) => L.circleMarker(latlng, {
        radius: f.properties.type === 'junction' || f.properties.type === 'customer' ? 2.5 : 6,
        color: colour, weight: 1, fillOpacity: 0.8,
      }),
      onEachFeature: (f, l) => l.bindTooltip(cityloop.text('span',
        `${f.properties.type} ${f.properties.ref}` + (f.properties.facility ? ` · ${f.properties.facility.name}` : ''))),
    });
    const valves = L.geoJSON({ type: 'FeatureCollection', features: by('valve') }, {
      pointToLayer: (f, latlng) => L.circleMarker(latlng, { radius: 2, color: '#475569', weight: 1 }),
    });
    // Leak candidates of the open leak warnings: the pipes drawn again on top, red, by probability.
    let leakInfo = [];
    try { leakInfo = JSON.parse(el.dataset.leaks || '[]'); } catch (err) { leakInfo = []; }
    const leakBy = new Map(leakInfo.map((c) => [c.pipe, c]));
    const leaks = L.geoJSON({ type: 'FeatureCollection', features: by('link').filter((f) => leakBy.has(String(f.properties.ref))) }, {
      style: (f) => {
        const c = leakBy.get(String(f.properties.ref));
        return { color: '#dc2626', weight: c.best ? 9 : 4 + 5 * c.probability, opacity: 0.35 + 0.6 * c.probability, dashArray: c.best ? null : '6 4' };
      },
      onEachFeature: (f, l) => {
        const c = leakBy.get(String(f.properties.ref));
        l.bindTooltip(cityloop.text('span', `${el.dataset.labelLeak} ${f.properties.ref}: P ${c.probability.toFixed(2)}`), { sticky: true });
        l.on('click', () => { window.location.href = `/twin/warnings/${c.warning}`; });
      },
    });
    el.dataset.leakCount = String(leaks.getLayers().length);
    let sensors = sensorLayer(by('sensor'));
    const layers = {};
    layers[el.dataset.labelLinks] = links.addTo(map);
    layers[el.dataset.labelNodes] = nodes.addTo(map);
    layers[el.dataset.labelValves] = valves;
    layers[el.dataset.labelSensors] = sensors.addTo(map);
    if (leaks.getLayers().length) layers[el.dataset.labelLeaks] = leaks.addTo(map);
    const control = L.control.layers(null, cityloopMap.escapedNames(layers), { collapsed: false }).addTo(map);
    const bounds = L.featureGroup([links, nodes, sensors]).getBounds();
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [20, 20] });
    if (data.schematic) {
      const note = L.control({ position: 'bottomleft' });
      note.onAdd = () => { const d = L.DomUtil.create('div', 'map-note'); d.textContent = el.dataset.labelSchematic; return d; };
      note.addTo(map);
    }
    el.dataset.featureCount = String(data.features.length);
    el.dataset.sensorCount = String(by('sensor').length);
    status.textContent = (el.dataset.labelLoaded || '').replace('{count}', data.features.length);
    el.classList.add('loaded');
    setInterval(async () => {
      try {
        const fresh = await load(el);
        map.removeLayer(sensors); control.removeLayer(sensors);
        sensors = sensorLayer(fresh.features.filter((f) => f.properties.layer === 'sensor')).addTo(map);
        control.addOverlay(sensors, cityloop.esc(el.dataset.labelSensors));
      } catch (err) { /* keep the last picture; the next round retries */ }
    }, 15000);
    return map;
  }

  cityloop.boot('twin-network', (el) => networkMap(el.id));
  return { networkMap };
})();
