// District map: draws the project's own vector layers (district, streets/towns, grid cells) from the
// JSON API. A base-tile layer is added only when the district configured a tile URL.
window.cityloopMap = (function () {
  const STYLES = {
    district: { color: '#1d4ed8', weight: 3, fill: false },
    street: { color: '#0f766e', weight: 2, fillColor: '#5eead4', fillOpacity: 0.15 },
    town: { color: '#a16207', weight: 2, fillColor: '#fde68a', fillOpacity: 0.15 },
    community: { color: '#7c3aed', weight: 1, fillOpacity: 0.05 },
    grid: { color: '#64748b', weight: 1, dashArray: '3', fillOpacity: 0.02 },
  };

  function feature(unit) {
    return {
      type: 'Feature',
      geometry: unit.geometry,
      properties: { code: unit.code, name: unit.name, kind: unit.kind, schematic: unit.geometry_schematic },
    };
  }

  // Leaflet's layer control puts the names in as HTML: escape them (they are catalogue labels today).
  function escapedNames(layers) {
    const out = {};
    for (const [name, layer] of Object.entries(layers)) out[cityloop.esc(name)] = layer;
    return out;
  }

  function baseMap(id, options) {
    const el = document.getElementById(id);
    const map = L.map(el, Object.assign({ zoomSnap: 0.25 }, options || {}));
    const tiles = el.dataset.tileUrl;
    if (tiles) {
      // The attribution is the operator's configuration (CITYLOOP_BASE_TILE_ATTRIBUTION), trusted like the
      // code: Leaflet shows it as HTML so that it may carry the tile provider's link.
      L.tileLayer(tiles, { attribution: el.dataset.tileAttribution || '', maxZoom: 19 }).addTo(map);
    }
    map.setView([29.45, 106.4], 11);
    return { el, map };
  }

  async function districtMap(id) {
    const { el, map } = baseMap(id);
    const resp = await fetch(el.dataset.unitsUrl, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    if (!resp.ok) {
      const status = el.dataset.statusId && document.getElementById(el.dataset.statusId);
      if (status) status.textContent = (await resp.json()).error.message;
      return map;
    }
    const body = await resp.json();
    // The unit list of the API, or (for citizens, who may not read units) the public area layer.
    const rows = body.type === 'FeatureCollection'
      ? body.features.map((f) => ({ ...f.properties, geometry: f.geometry }))
      : body;
    const units = rows.filter((u) => u.geometry);
    const groups = { district: [], areas: [], grids: [] };
    let schematic = false;
    for (const u of units) {
      schematic = schematic || u.geometry_schematic;
      const key = u.kind === 'district' ? 'district' : u.kind === 'grid' ? 'grids' : 'areas';
      groups[key].push(feature(u));
    }
    const layers = {};
    const labels = { district: el.dataset.labelDistrict, areas: el.dataset.labelAreas, grids: el.dataset.labelGrids };
    for (const [key, feats] of Object.entries(groups)) {
      if (!feats.length) continue;
      const layer = L.geoJSON({ type: 'FeatureCollection', features: feats }, {
        style: (f) => STYLES[f.properties.kind] || STYLES.grid,
        onEachFeature: (f, l) => {
          const labelled = f.properties.kind === 'street' || f.properties.kind === 'town';
          l.bindTooltip(cityloop.text('span', f.properties.name.replace(/(街道|镇)$/, '')), labelled
            ? { permanent: true, direction: 'center', className: 'area-label' } : { sticky: true });
          l.on('click', () => { el.dataset.selected = f.properties.code; });
        },
      });
      layer.addTo(map);
      layers[labels[key] || key] = layer;
    }
    const all = L.featureGroup(Object.values(layers));
    if (all.getLayers().length) map.fitBounds(all.getBounds(), { padding: [10, 10] });
    L.control.layers(null, escapedNames(layers), { collapsed: false }).addTo(map);
    if (schematic) {
      const note = L.control({ position: 'bottomleft' });
      note.onAdd = () => { const d = L.DomUtil.create('div', 'map-note'); d.textContent = el.dataset.labelSchematic; return d; };
      note.addTo(map);
    }
    el.dataset.featureCount = String(units.length);
    const status = el.dataset.statusId && document.getElementById(el.dataset.statusId);
    if (status) status.textContent = (el.dataset.labelLoaded || '').replace('{count}', units.length);
    el.classList.add('loaded');
    return map;
  }

  cityloop.boot('district-map', (el) => districtMap(el.id));
  return { districtMap, baseMap, escapedNames, STYLES };
})();
