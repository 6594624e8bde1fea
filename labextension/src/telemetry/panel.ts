import { Widget } from '@lumino/widgets';
import { Message } from '@lumino/messaging';

import { MetricChart, METRIC_STYLE } from './charts';
import { formatEnergy, formatGigabytes, formatMetric, unavailableMessage } from './format';
import { CHART_METRICS, ChartMetric, SeriesStore } from './history';
import { IDeviceSample, ISnapshot } from './model';
import { TelemetryStream } from './stream';

const HISTORY_SECONDS = 600;

/** The GPU panel: charts over time per GPU or MIG slice, and a process table. */
export class GpuPanel extends Widget {
  constructor(private readonly stream: TelemetryStream) {
    super();
    this.id = 'accelhub-gpu-panel';
    this.title.label = 'GPU';
    this.title.caption = 'GPU telemetry';
    this.title.closable = true;
    this.addClass('accelhub-GpuPanel');
    this._status = document.createElement('div');
    this._status.className = 'accelhub-GpuPanel-status';
    this._status.textContent = 'Waiting for the first sample…';
    this._devices = document.createElement('div');
    this._devices.className = 'accelhub-GpuPanel-devices';
    this.node.append(this._status, this._devices);
    stream.snapshotReceived.connect(this._onSnapshot, this);
    void this._loadHistory();
  }

  dispose(): void {
    for (const card of this._cards.values()) {
      card.charts.forEach(chart => chart.dispose());
    }
    this._cards.clear();
    super.dispose();
  }

  protected onResize(msg: Widget.ResizeMessage): void {
    super.onResize(msg);
    this._resizeCharts();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._resizeCharts();
  }

  private async _loadHistory(): Promise<void> {
    try {
      const samples = await this.stream.history(HISTORY_SECONDS);
      for (const sample of samples) {
        if (sample.status === 'ok') {
          this._series.push(sample.timestamp, sample.devices);
        }
      }
      // History only fills the charts: the live stream decides what the panel says,
      // so a late history answer never overwrites a newer "No GPU" or device list.
      const latest = this.stream.latest;
      if (latest) {
        this._render(latest);
      }
    } catch (error) {
      // History is a convenience: live frames still arrive.
      console.warn('accelhub: could not load telemetry history', error);
    }
  }

  private _onSnapshot(_: TelemetryStream, snapshot: ISnapshot): void {
    if (snapshot.status === 'ok') {
      this._series.push(snapshot.timestamp, snapshot.devices);
    }
    this._render(snapshot);
  }

  private _render(snapshot: ISnapshot): void {
    this.node.dataset.status = snapshot.status;
    if (snapshot.status !== 'ok' || snapshot.devices.length === 0) {
      this._status.textContent = unavailableMessage(snapshot);
      this._status.classList.add('accelhub-GpuPanel-unavailable');
      this._devices.hidden = true;
      return;
    }
    this._status.classList.remove('accelhub-GpuPanel-unavailable');
    this._status.textContent = `${snapshot.devices.length} device(s) · updated ${new Date(
      snapshot.timestamp * 1000
    ).toLocaleTimeString()}`;
    this._devices.hidden = false;
    const present = new Set<string>();
    for (const device of snapshot.devices) {
      present.add(device.uuid);
      const card = this._cards.get(device.uuid) ?? this._createCard(device);
      this._updateCard(card, device);
    }
    for (const [uuid, card] of this._cards) {
      if (!present.has(uuid)) {
        card.charts.forEach(chart => chart.dispose());
        card.node.remove();
        this._cards.delete(uuid);
      }
    }
  }

  private _createCard(device: IDeviceSample): IDeviceCard {
    const node = document.createElement('section');
    node.className = 'accelhub-GpuCard';
    node.dataset.uuid = device.uuid;
    node.dataset.kind = device.kind;
    const header = document.createElement('header');
    const stats = document.createElement('div');
    stats.className = 'accelhub-GpuCard-stats';
    const chartsHost = document.createElement('div');
    chartsHost.className = 'accelhub-GpuCard-charts';
    const charts: MetricChart[] = [];
    for (const metric of chartedMetrics(device)) {
      const box = document.createElement('figure');
      box.className = 'accelhub-GpuChart';
      box.dataset.metric = metric;
      const caption = document.createElement('figcaption');
      caption.textContent = METRIC_STYLE[metric].label;
      box.append(caption);
      chartsHost.append(box);
      const max =
        metric === 'utilization_gpu'
          ? 100
          : metric === 'memory_used_bytes'
            ? device.memory_total_bytes
            : metric === 'power_draw_w'
              ? device.power_limit_w
              : null;
      const chart = new MetricChart(box, metric, max === null ? null : METRIC_STYLE[metric].scale(max));
      charts.push(chart);
    }
    const processes = document.createElement('table');
    processes.className = 'accelhub-GpuCard-processes';
    node.append(header, stats, chartsHost, processes);
    this._devices.append(node);
    const card: IDeviceCard = { node, header, stats, charts, processes };
    this._cards.set(device.uuid, card);
    return card;
  }

  private _updateCard(card: IDeviceCard, device: IDeviceSample): void {
    const title = device.kind === 'mig' ? `MIG ${device.profile ?? ''}`.trim() : device.name;
    card.header.textContent = `${device.index} · ${title}`;
    card.node.dataset.status = device.error ? 'error' : 'ok';
    if (device.error) {
      card.stats.textContent = device.error;
      return;
    }
    card.header.title = device.uuid;
    const memory =
      device.memory_total_bytes === null
        ? 'n/a'
        : `${formatGigabytes(device.memory_used_bytes ?? 0)}/${formatGigabytes(
            device.memory_total_bytes
          )} GB`;
    const facts: [string, string][] = [
      ['util', formatMetric(device.utilization_gpu, '%')],
      ['memory', memory]
    ];
    if (device.kind === 'gpu') {
      const power =
        device.power_draw_w === null
          ? 'n/a'
          : `${device.power_draw_w.toFixed(0)}/${formatMetric(device.power_limit_w, ' W')}`;
      facts.push(
        ['temp', formatMetric(device.temperature_c, ' °C')],
        ['fan', formatMetric(device.fan_percent, '%')],
        ['power', power],
        ['energy', formatEnergy(device.energy_wh)],
        ['sm clock', formatMetric(device.sm_clock_mhz, ' MHz')],
        ['pstate', device.performance_state ?? 'n/a']
      );
    }
    card.stats.replaceChildren(
      ...facts.map(([name, value]) => {
        const item = document.createElement('span');
        item.dataset.metric = name;
        item.textContent = `${name} ${value}`;
        return item;
      })
    );
    card.charts.forEach(chart => {
      const [times, values] = this._series.data(device.uuid, chart.metric);
      chart.update(times, values);
    });
    this._renderProcesses(card.processes, device);
  }

  private _renderProcesses(table: HTMLTableElement, device: IDeviceSample): void {
    const head = document.createElement('tr');
    for (const label of ['PID', 'User', 'Process', 'GPU memory']) {
      const th = document.createElement('th');
      th.textContent = label;
      head.append(th);
    }
    const rows = device.processes.map(process => {
      const tr = document.createElement('tr');
      if (process.own) {
        tr.classList.add('accelhub-own-process');
      }
      for (const value of [
        String(process.pid),
        process.user ?? '—',
        process.name ?? '—',
        process.used_memory_bytes === null
          ? 'n/a'
          : `${(process.used_memory_bytes / 1024 ** 2).toFixed(0)} MiB`
      ]) {
        const td = document.createElement('td');
        td.textContent = value;
        tr.append(td);
      }
      return tr;
    });
    if (rows.length === 0) {
      const tr = document.createElement('tr');
      const td = document.createElement('td');
      td.colSpan = 4;
      td.textContent = 'No processes on this device.';
      tr.append(td);
      rows.push(tr);
    }
    table.replaceChildren(head, ...rows);
  }

  private _resizeCharts(): void {
    for (const card of this._cards.values()) {
      card.charts.forEach(chart => chart.resize());
    }
  }

  private _status: HTMLElement;
  private _devices: HTMLElement;
  private _cards = new Map<string, IDeviceCard>();
  private _series = new SeriesStore(HISTORY_SECONDS);
}

/**
 * The metrics worth a chart for this device: MIG slices report memory only,
 * and a metric the device does not support gets no empty chart.
 */
export function chartedMetrics(device: IDeviceSample): ChartMetric[] {
  if (device.kind === 'mig') {
    return ['memory_used_bytes'];
  }
  return CHART_METRICS.filter(
    metric => !device.unsupported.includes(metric) && device[metric] !== null
  );
}

interface IDeviceCard {
  node: HTMLElement;
  header: HTMLElement;
  stats: HTMLElement;
  charts: MetricChart[];
  processes: HTMLTableElement;
}
