// A bar chart in SVG (no library, no inline styles: colours come from
// style.css). Screen readers get the figures from the table the page shows
// beside it; the chart itself carries a one-line summary.
export interface Bar {
  label: string;
  value: number;
}

const WIDTH = 640;
const HEIGHT = 160;
const AXIS = 18;

export function BarChart({ bars, title, unit, testid }: { bars: Bar[]; title: string; unit: string; testid: string }) {
  const max = Math.max(0, ...bars.map((b) => b.value));
  const total = bars.reduce((sum, b) => sum + b.value, 0);
  const summary = `${title}: ${bars.length} days, ${total.toLocaleString("en-US", { maximumFractionDigits: 6 })} ${unit} in all, at most ${max.toLocaleString("en-US", { maximumFractionDigits: 6 })} a day`;
  const slot = bars.length ? WIDTH / bars.length : WIDTH;
  const barWidth = Math.max(1, slot * 0.7);
  return (
    <figure className="chart" data-testid={testid}>
      <figcaption>
        {title} <span className="muted">(max {max.toLocaleString("en-US", { maximumFractionDigits: 6 })} {unit} a day)</span>
      </figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT + AXIS}`} role="img" aria-label={summary} preserveAspectRatio="none">
        <line className="axis" x1={0} y1={HEIGHT} x2={WIDTH} y2={HEIGHT} />
        {bars.map((b, i) => {
          const h = max > 0 ? (b.value / max) * (HEIGHT - 4) : 0;
          const x = i * slot + (slot - barWidth) / 2;
          return (
            <g key={b.label}>
              <rect className="bar" x={x} y={HEIGHT - h} width={barWidth} height={h}>
                <title>{`${b.label}: ${b.value.toLocaleString("en-US", { maximumFractionDigits: 6 })} ${unit}`}</title>
              </rect>
              {bars.length <= 16 || i % Math.ceil(bars.length / 8) === 0 ? (
                <text className="tick" x={i * slot + slot / 2} y={HEIGHT + 13} textAnchor="middle">
                  {b.label.slice(8)}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      {max === 0 ? <p className="muted chart-empty">None in this month yet.</p> : null}
    </figure>
  );
}
