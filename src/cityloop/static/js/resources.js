// Idle spaces: one marker per space, coloured by status, its name as the tooltip (set as text).
(function () {
  'use strict';
  const COLOURS = { idle: '#dc2626', planned: '#ca8a04', in_use: '#15803d' };

  function idleMap(mapEl) {
    const { el, map } = cityloopMap.baseMap(mapEl.id);
    const pts = JSON.parse(document.getElementById(mapEl.dataset.points).textContent);
    const layer = L.featureGroup(pts.map((p) => L.circleMarker([p.lat, p.lon], { radius: 7, color: COLOURS[p.status], fillOpacity: 0.7 })
      .bindTooltip(cityloop.text('span', p.name))));
    layer.addTo(map);
    if (pts.length) map.fitBounds(layer.getBounds(), { padding: [20, 20] });
    el.dataset.count = String(pts.length);
    el.classList.add('loaded');
  }

  cityloop.boot('idle-map', idleMap);
})();
