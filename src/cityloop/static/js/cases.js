// Case pages: the pin picker of the report form (click, or the phone's position), the two-level
// category picker, nearby open reports ("me too"), and maps of a list of cases. Text from the server
// goes into the page with textContent only; HTML fragments come from the server's escaped templates.
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
        onEachFeature: (f, l) => { if (f.properties.kind !== 'district') l.bindTooltip(f.properties.name, { sticky: true }); },
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
      if (!nearby || !lon.value || !form.category.value) { if (nearby) nearby.innerHTML = ''; return; }
      const q = new URLSearchParams({ category: form.category.value, lon: lon.value, lat: lat.value });
      const resp = await fetch('/cases/nearby?' + q, { credentials: 'same-origin' });
      if (resp.ok) nearby.innerHTML = await resp.text();  // escaped by the server's template
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
      const a = document.createElement('a');
      a.href = '/cases/' + c.id;
      a.textContent = c.label;
      m.bindPopup(a);
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

  return { reportForm, casesMap, categoryPicker, maps };
})();
