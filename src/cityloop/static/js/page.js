// What every page shares, loaded after safe.js: starting a page's scripts and a few form behaviours,
// with no inline script and no inline event handler (the Content-Security-Policy forbids both;
// decision 0014).
//
//   <div id="map" data-boot="district-map">   when the document is ready, the function registered as
//                                             'district-map' is called with that element; scripts
//                                             register with cityloop.boot('district-map', (el) => …)
//   <select data-autosubmit>                  submits its form when changed
//   <button type="button" data-print>         prints the page
//   <form data-nosubmit>                      a form that only feeds a script, never sent
(function () {
  'use strict';
  const starters = new Map();

  function boot(name, start) {
    starters.set(name, start);
  }

  function startAll() {
    for (const el of document.querySelectorAll('[data-boot]')) {
      for (const name of el.dataset.boot.split(/\s+/).filter(Boolean)) {
        const start = starters.get(name);
        // A page naming a script it did not load is a bug: say so where tests and developers look.
        if (!start) { console.error('cityloop: nothing registered for data-boot=' + name); continue; }
        try {
          const result = start(el);
          if (result && typeof result.catch === 'function') result.catch((err) => console.error(err));
        } catch (err) {
          console.error(err);  // one broken widget must not keep the others from starting
        }
      }
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', startAll);
  else setTimeout(startAll, 0);

  document.addEventListener('change', (e) => {
    const t = e.target;
    if (t instanceof Element && t.matches('[data-autosubmit]') && t.form) t.form.submit();
  });
  document.addEventListener('click', (e) => {
    if (e.target instanceof Element && e.target.closest('[data-print]')) window.print();
  });
  document.addEventListener('submit', (e) => {
    if (e.target instanceof Element && e.target.matches('[data-nosubmit]')) e.preventDefault();
  });

  window.cityloop = Object.assign(window.cityloop || {}, { boot });
})();
