// Case pages: the pin picker of the report form (click, or the phone's position), the two-level
// category picker, nearby open reports ("me too"), and maps of a list of cases. Text from the server
// goes into the page through cityloop.text (safe.js); HTML fragments come from the server's escaped
// templates (cityloop.fragment).
window.cityloopCases = (function () {
  const maps = {};  // by element id: lets tests and other scripts reach a page's map
  const COLOURS = { green: '#15803d', amber: '#d97706', red: '#dc2626', none: '#64748b' };

  async function areas(map, el) {
    try {
      const resp = await fetch('/cases/map/areas', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
      if (!resp.ok) return null;
      const layer = L.geoJSON(await resp.json(), {
        style: (f) => (f.properties.kind === 'district'
          ? { color: '#1d4ed8', weight: 2, fill: false }
          : { color: '#0f766e', weight: 1, fillColor: '#5eead4', fillOpacity: 0.08 }),
        onEachFeature: (f, l) => { if (f.properties.kind !== 'district') l.bindTooltip(cityloop.text('span', f.properties.name), { sticky: true }); },
        interactive: el.dataset.pick !== '1',
      }).addTo(map);
      return layer;
    } catch (e) {
      return null;
    }
  }

  // The two selects of the category picker: the major class filters the leaves.
  function categoryPicker(form) {
    const major = form.querySelector('select[data-role=major]');
    const leaf = form.querySelector('select[name=category]');
    if (!major || !leaf) return;
    const all = Array.from(leaf.querySelectorAll('option[data-major]'));
    const filter = () => {
      const want = major.value;
      for (const o of all) o.hidden = o.disabled = Boolean(want) && o.dataset.major !== want;
      for (const g of leaf.querySelectorAll('optgroup')) g.hidden = Boolean(want) && g.dataset.major !== want;
      if (leaf.selectedOptions[0] && leaf.selectedOptions[0].disabled) leaf.value = '';
    };
    const current = leaf.selectedOptions[0];
    if (current && current.dataset.major) major.value = current.dataset.major;
    major.addEventListener('change', filter);
    filter();
  }

  function reportForm(formId, mapId) {
    const form = document.getElementById(formId);
    const el = document.getElementById(mapId);
    categoryPicker(form);
    const { map } = cityloopMap.baseMap(mapId);
    maps[mapId] = map;
    let marker = null;
    const lon = form.querySelector('input[name=lon]');
    const lat = form.querySelector('input[name=lat]');
    const shown = document.getElementById('pin-shown');
    const nearby = document.getElementById('nearby');

    async function refreshNearby() {
      if (!nearby || !lon.value || !form.category.value) { if (nearby) nearby.replaceChildren(); return; }
      const q = new URLSearchParams({ category: form.category.value, lon: lon.value, lat: lat.value });
      const resp = await fetch('/cases/nearby?' + q, { credentials: 'same-origin' });
      if (resp.ok) cityloop.fragment(nearby, await resp.text());  // rendered by an autoescaping template
    }

    function place(latlng, zoom) {
      if (marker) marker.setLatLng(latlng); else marker = L.marker(latlng).addTo(map);
      lon.value = latlng.lng.toFixed(7);
      lat.value = latlng.lat.toFixed(7);
      if (shown) shown.textContent = lat.value + ', ' + lon.value;
      if (zoom) map.setView(latlng, 16);
      el.dataset.pinned = '1';
      refreshNearby();
    }

    map.on('click', (e) => place(e.latlng, false));
    areas(map, el).then((layer) => {
      if (layer && layer.getLayers().length) map.fitBounds(layer.getBounds(), { padding: [8, 8] });
      if (lon.value && lat.value) place(L.latLng(Number(lat.value), Number(lon.value)), true);
      el.classList.add('loaded');
    });
    form.category.addEventListener('change', refreshNearby);

    const geo = document.getElementById('use-location');
    if (geo) {
      if (!navigator.geolocation) geo.hidden = true;
      geo.addEventListener('click', () => {
        const status = document.getElementById('geo-status');
        navigator.geolocation.getCurrentPosition(
          (pos) => { place(L.latLng(pos.coords.latitude, pos.coords.longitude), true); if (status) status.textContent = ''; },
          (err) => { if (status) status.textContent = geo.dataset.failed + ' (' + err.message + ')'; },
          { enableHighAccuracy: true, timeout: 10000 },
        );
      });
    }
    // One submit per form: the idempotency key makes a second one harmless, this makes it rare.
    form.addEventListener('submit', () => {
      const b = form.querySelector('button[type=submit]');
      if (b) setTimeout(() => { b.disabled = true; }, 0);
    });
  }

  // A map of the cases listed on the page (data from a JSON script element).
  function casesMap(mapId, dataId) {
    const el = document.getElementById(mapId);
    const items = JSON.parse(document.getElementById(dataId).textContent);
    const { map } = cityloopMap.baseMap(mapId);
    maps[mapId] = map;
    const group = L.featureGroup();
    for (const c of items) {
      const m = L.circleMarker([c.lat, c.lon], {
        radius: 7, color: '#fff', weight: 1, fillColor: COLOURS[c.colour] || COLOURS.none, fillOpacity: 0.9,
      });
      m.bindPopup(cityloop.text('a', c.label, { href: '/cases/' + c.id }));
      m.on('mouseover', () => { const row = document.getElementById('case-' + c.id); if (row) row.classList.add('hl'); });
      m.on('mouseout', () => { const row = document.getElementById('case-' + c.id); if (row) row.classList.remove('hl'); });
      group.addLayer(m);
    }
    group.addTo(map);
    areas(map, el).then((layer) => {
      if (group.getLayers().length) map.fitBounds(group.getBounds(), { padding: [20, 20], maxZoom: 16 });
      else if (layer && layer.getLayers().length) map.fitBounds(layer.getBounds());
      el.dataset.markerCount = String(group.getLayers().length);
      el.classList.add('loaded');
    });
  }

  // The dispatcher's queue map: every case matching the filter form inside the map's box, from
  // /api/v1/cases/map (points when few, grid clusters with their counts when many). Reloaded when the
  // map moves or zooms and when a filter changes; a slower, older answer never replaces a newer one.
  function queueMap(mapId, formId) {
    const el = document.getElementById(mapId);
    const form = document.getElementById(formId);
    const status = document.getElementById(el.dataset.statusId);
    const { map } = cityloopMap.baseMap(mapId);
    maps[mapId] = map;
    const layer = L.featureGroup().addTo(map);
    let seq = 0;
    let timer = null;

    function query() {
      const q = new URLSearchParams();
      for (const [k, v] of new FormData(form).entries()) {
        if (!v || k === 'sort' || k === 'page') continue;
        if (k === 'duplicate') q.set('possible_duplicate', 'true');
        else if (k === 'overdue') q.set('overdue', 'true');
        else q.set(k, v);
      }
      q.set('bbox', map.getBounds().toBBoxString());
      q.set('zoom', String(Math.round(map.getZoom())));
      return q;
    }

    function point(f) {
      const p = f.properties;
      const [lon, lat] = f.geometry.coordinates;
      const m = L.circleMarker([lat, lon], {
        radius: 7, color: '#fff', weight: 1, fillColor: COLOURS[p.colour] || COLOURS.none, fillOpacity: 0.9,
      });
      m.bindPopup(cityloop.text('a', p.no + ' ' + p.category, { href: '/cases/' + p.id }));
      m.on('mouseover', () => { const row = document.getElementById('case-' + p.id); if (row) row.classList.add('hl'); });
      m.on('mouseout', () => { const row = document.getElementById('case-' + p.id); if (row) row.classList.remove('hl'); });
      return m;
    }

    function cluster(f) {
      const n = Number(f.properties.count);
      const size = n < 10 ? 28 : n < 100 ? 34 : n < 1000 ? 42 : 50;
      const label = cityloop.text('span', n >= 10000 ? Math.round(n / 1000) + 'k' : String(n));
      const icon = L.divIcon({ className: 'case-cluster', html: label, iconSize: [size, size] });
      const [lon, lat] = f.geometry.coordinates;
      const m = L.marker([lat, lon], { icon, title: String(n) });
      const [w, s, e, north] = f.properties.bounds;
      m.on('click', () => map.fitBounds([[s, w], [north, e]]));
      return m;
    }

    async function load() {
      const mine = ++seq;
      el.classList.add('busy');
      let resp;
      try {
        resp = await fetch('/api/v1/cases/map?' + query(), { credentials: 'same-origin', headers: { Accept: 'application/json' } });
      } catch (e) {
        if (mine === seq) { el.classList.remove('busy'); status.textContent = el.dataset.failed; }
        return;
      }
      if (mine !== seq) return;
      el.classList.remove('busy');
      if (!resp.ok) {
        let message = el.dataset.failed;
        try { message = (await resp.json()).error.message || message; } catch (e) { /* not JSON */ }
        if (mine !== seq) return;
        layer.clearLayers();
        el.dataset.kind = 'error';
        status.textContent = message;
        return;
      }
      const data = await resp.json();
      if (mine !== seq) return;
      layer.clearLayers();
      for (const f of data.features) layer.addLayer(data.kind === 'clusters' ? cluster(f) : point(f));
      el.dataset.kind = data.kind;
      el.dataset.total = String(data.total);
      el.dataset.featureCount = String(data.features.length);
      const text = data.kind === 'clusters' ? el.dataset.textClusters : el.dataset.textPoints;
      status.textContent = text.replace('{total}', data.total.toLocaleString());
      el.classList.add('loaded');
    }

    function soon() { clearTimeout(timer); timer = setTimeout(load, 200); }
    map.on('moveend', soon);
    form.addEventListener('change', soon);
    areas(map, el).then((districts) => {
      if (districts && districts.getLayers().length) map.fitBounds(districts.getBounds());
      soon();
    });
  }

  // <div data-boot="cases-map" data-markers="ID of the JSON script">, the queue map beside its filter
  // form (data-form), the report form with its pin map (data-map), a form with a category picker.
  cityloop.boot('cases-map', (el) => casesMap(el.id, el.dataset.markers));
  cityloop.boot('queue-map', (el) => queueMap(el.id, el.dataset.form));
  cityloop.boot('report-form', (el) => reportForm(el.id, el.dataset.map));
  cityloop.boot('category-picker', (el) => categoryPicker(el));
  return { reportForm, casesMap, queueMap, categoryPicker, maps };
})();
