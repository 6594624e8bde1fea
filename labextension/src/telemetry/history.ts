import { IDeviceSample } from './model';

/** The metrics drawn as charts, in display order. */
export const CHART_METRICS = [
  'utilization_gpu',
  'memory_used_bytes',
  'temperature_c',
  'power_draw_w'
] as const;

export type ChartMetric = (typeof CHART_METRICS)[number];

/**
 * Time series per device and metric, bounded in length. `null` marks a gap
 * (unsupported or missing sample), so charts break the line instead of
 * drawing zeros.
 */
export class SeriesStore {
  constructor(readonly capacity: number) {}

  /** Append one sample per device at time `t` (seconds). */
  push(t: number, devices: IDeviceSample[]): void {
    if (this.times.length > 0 && t <= this.times[this.times.length - 1]) {
      return;
    }
    this.times.push(t);
    const seen = new Set<string>();
    for (const device of devices) {
      seen.add(device.uuid);
      const series = this.seriesFor(device.uuid);
      for (const metric of CHART_METRICS) {
        series[metric].push(device[metric]);
      }
    }
    for (const [uuid, series] of this.series) {
      if (!seen.has(uuid)) {
        for (const metric of CHART_METRICS) {
          series[metric].push(null);
        }
      }
    }
    this.trim();
  }

  /** `[times, values]` for one device's metric, ready for uPlot. */
  data(uuid: string, metric: ChartMetric): [number[], (number | null)[]] {
    const series = this.series.get(uuid);
    if (!series) {
      return [[], []];
    }
    return [this.times.slice(), series[metric].slice()];
  }

  get length(): number {
    return this.times.length;
  }

  private seriesFor(uuid: string): Record<ChartMetric, (number | null)[]> {
    let series = this.series.get(uuid);
    if (!series) {
      // A device that appears late gets gaps for the samples before it.
      const gaps = () => new Array<number | null>(this.times.length - 1).fill(null);
      series = {
        utilization_gpu: gaps(),
        memory_used_bytes: gaps(),
        temperature_c: gaps(),
        power_draw_w: gaps()
      };
      this.series.set(uuid, series);
    }
    return series;
  }

  private trim(): void {
    const excess = this.times.length - this.capacity;
    if (excess <= 0) {
      return;
    }
    this.times.splice(0, excess);
    for (const series of this.series.values()) {
      for (const metric of CHART_METRICS) {
        series[metric].splice(0, excess);
      }
    }
  }

  private times: number[] = [];
  private series = new Map<string, Record<ChartMetric, (number | null)[]>>();
}
