import uPlot from 'uplot';

import { ChartMetric } from './history';

/** How each charted metric is labelled, scaled and coloured. */
export const METRIC_STYLE: Record<
  ChartMetric,
  { label: string; unit: string; cssColor: string; scale: (v: number) => number }
> = {
  utilization_gpu: {
    label: 'Utilisation',
    unit: '%',
    cssColor: '--jp-brand-color1',
    scale: v => v
  },
  memory_used_bytes: {
    label: 'Memory',
    unit: ' GiB',
    cssColor: '--jp-accent-color1',
    scale: v => v / 1024 ** 3
  },
  temperature_c: {
    label: 'Temperature',
    unit: ' °C',
    cssColor: '--jp-warn-color1',
    scale: v => v
  },
  power_draw_w: { label: 'Power', unit: ' W', cssColor: '--jp-error-color1', scale: v => v }
};

function themeColor(variable: string, fallback: string): string {
  const value = getComputedStyle(document.body).getPropertyValue(variable).trim();
  return value || fallback;
}

/** A small time-series chart for one metric of one device. */
export class MetricChart {
  constructor(
    private readonly host: HTMLElement,
    readonly metric: ChartMetric,
    maxValue: number | null
  ) {
    const style = METRIC_STYLE[metric];
    const axisColor = themeColor('--jp-ui-font-color2', '#888');
    const gridColor = themeColor('--jp-border-color2', '#ddd');
    this._plot = new uPlot(
      {
        width: Math.max(160, host.clientWidth || 240),
        height: 110,
        legend: { show: false },
        cursor: { show: false },
        scales: {
          x: { time: true },
          y: { range: (_u, min, max) => [0, Math.max(maxValue ?? 0, max ?? 0, min ?? 0, 1)] }
        },
        axes: [
          { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { show: false } },
          {
            stroke: axisColor,
            grid: { stroke: gridColor, width: 1 },
            ticks: { show: false },
            size: 42,
            values: (_u, ticks) => ticks.map(t => `${+t.toFixed(1)}`)
          }
        ],
        series: [
          {},
          {
            label: style.label,
            stroke: themeColor(style.cssColor, '#1976d2'),
            width: 1.5,
            spanGaps: false,
            points: { show: false }
          }
        ]
      },
      [[], []],
      host
    );
  }

  /** Redraw with new data (seconds, raw metric values). */
  update(times: number[], values: (number | null)[]): void {
    const scale = METRIC_STYLE[this.metric].scale;
    this._plot.setData([times, values.map(v => (v === null ? null : scale(v)))]);
  }

  /** Fit the chart to its host's current width. */
  resize(): void {
    this._plot.setSize({ width: Math.max(160, this.host.clientWidth), height: 110 });
  }

  dispose(): void {
    this._plot.destroy();
  }

  private _plot: uPlot;
}
