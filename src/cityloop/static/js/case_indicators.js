// The case-indicator dashboard: bars per group and indicator, lines per indicator over the months.
(function () {
  'use strict';
  function draw() {
    const data = JSON.parse(document.getElementById('indicator-data').textContent);
    const pct = { type: 'value', min: 0, max: 100, axisLabel: { formatter: '{value}%' } };
    const bars = echarts.init(document.getElementById('chart-groups'));
    const many = data.groups.length > 12;
    bars.setOption({
      animation: false,
      tooltip: cityloop.chartTip({ trigger: 'axis', valueFormatter: (v) => (v == null ? '—' : v + '%') }),
      legend: { type: 'scroll', top: 0 },
      grid: { left: 48, right: 16, top: 40, bottom: many ? 120 : 90 },
      // Many units: show a dozen at a time with a slider; the table below has them all.
      dataZoom: many ? [{ type: 'slider', bottom: 8, startValue: 0, endValue: 11 }, { type: 'inside' }] : [],
      xAxis: { type: 'category', data: data.groups, axisLabel: { rotate: 40, interval: 0, width: 110, overflow: 'truncate' } },
      yAxis: pct,
      series: data.indicators.map((name, i) => ({ name, type: 'bar', data: data.bars[i] })),
    });
    const lines = echarts.init(document.getElementById('chart-trend'));
    window.addEventListener('resize', () => { bars.resize(); lines.resize(); });
    fetch(data.trend_url, { credentials: 'same-origin' })
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then((body) => {
        const t = document.getElementById('chart-trend');
        lines.setOption({
          animation: false,
          tooltip: cityloop.chartTip({ trigger: 'axis', valueFormatter: (v) => (v == null ? '—' : v + '%') }),
          legend: { type: 'scroll', top: 0 },
          grid: { left: 48, right: 16, top: 40, bottom: 30 },
          xAxis: { type: 'category', data: body.trend.map((b) => b.label) },
          yAxis: pct,
          series: data.indicators.map((name, i) => ({
            name, type: 'line', connectNulls: false,
            data: body.trend.map((b) => { const v = b.rates[data.rates[i]]; return v == null ? null : Math.round(v * 1000) / 10; }),
          })),
        });
        t.dataset.points = body.trend.length;
        t.classList.add('drawn');
      })
      .catch(() => { document.getElementById('chart-trend').classList.add('failed'); });
    const g = document.getElementById('chart-groups');
    g.dataset.groups = data.groups.length;
    g.dataset.series = data.indicators.length;
    g.classList.add('drawn');
  }
  cityloop.boot('case-indicators', draw);
})();
