import { statusBarText, unavailableMessage, formatMetric, leafDevices } from '../telemetry/format';
import { SeriesStore } from '../telemetry/history';
import { historyToSnapshots, IDeviceSample, normaliseSnapshot } from '../telemetry/model';

const GiB = 1024 ** 3;

function device(overrides: Partial<IDeviceSample>): IDeviceSample {
  return {
    uuid: 'GPU-1',
    index: 0,
    name: 'Tesla T4',
    kind: 'gpu',
    utilization_gpu: 40,
    utilization_memory: 10,
    memory_used_bytes: 2 * GiB,
    memory_total_bytes: 16 * GiB,
    temperature_c: 50,
    fan_percent: null,
    power_draw_w: 30,
    power_limit_w: 70,
    sm_clock_mhz: 1500,
    memory_clock_mhz: 5000,
    performance_state: 'P0',
    unsupported: ['fan'],
    processes: [],
    ...overrides
  };
}

describe('status bar text', () => {
  it('averages utilisation and sums memory', () => {
    const text = statusBarText({
      status: 'ok',
      message: '',
      timestamp: 1,
      devices: [
        device({ uuid: 'a', utilization_gpu: 30, memory_used_bytes: 4 * GiB }),
        device({ uuid: 'b', utilization_gpu: 44, memory_used_bytes: 8.1 * GiB })
      ]
    });
    expect(text).toBe('GPU 37% · 12.1/32 GB');
  });

  it('shows only memory for MIG slices, which have no utilisation counter', () => {
    const parent = device({ uuid: 'GPU-A100', name: 'A100', memory_total_bytes: 80 * GiB });
    const slice = device({
      uuid: 'MIG-1',
      kind: 'mig',
      parent_uuid: 'GPU-A100',
      utilization_gpu: null,
      memory_used_bytes: 1 * GiB,
      memory_total_bytes: 10 * GiB
    });
    expect(leafDevices([parent, slice])).toEqual([slice]);
    expect(
      statusBarText({ status: 'ok', message: '', timestamp: 1, devices: [parent, slice] })
    ).toBe('MIG · 1/10 GB');
  });

  it('says there is no GPU instead of showing zeros', () => {
    const snapshot = { status: 'no_driver', message: 'x', timestamp: 1, devices: [] };
    expect(statusBarText(snapshot)).toBe('No GPU');
    expect(unavailableMessage(snapshot)).toMatch(/driver is not loaded/);
    expect(statusBarText(null)).toBe('GPU …');
  });

  it('writes n/a for unsupported metrics', () => {
    expect(formatMetric(null, '%')).toBe('n/a');
    expect(formatMetric(0, '%')).toBe('0%');
  });
});

describe('snapshot normalisation', () => {
  it('flattens MIG devices after their GPU and keeps nulls', () => {
    const snapshot = normaliseSnapshot({
      status: 'ok',
      message: '',
      timestamp: 10,
      devices: [
        {
          uuid: 'GPU-x',
          index: 0,
          name: 'NVIDIA A100 80GB PCIe',
          utilization_gpu: null,
          utilization_memory: null,
          memory_used_bytes: 1,
          memory_total_bytes: 2,
          unsupported: ['utilization_gpu', 'utilization_memory'],
          mig: {
            enabled: true,
            devices: [
              { uuid: 'MIG-y', index: 0, profile: '1g.10gb', memory_used_bytes: 3, memory_total_bytes: 4 }
            ]
          }
        }
      ]
    });
    expect(snapshot.devices.map(d => [d.uuid, d.kind])).toEqual([
      ['GPU-x', 'gpu'],
      ['MIG-y', 'mig']
    ]);
    expect(snapshot.devices[1].parent_uuid).toBe('GPU-x');
    expect(snapshot.devices[0].utilization_gpu).toBeNull();
    expect(snapshot.devices[1].memory_total_bytes).toBe(4);
  });

  it('treats garbage as an error snapshot', () => {
    expect(normaliseSnapshot('nonsense').status).toBe('error');
    expect(normaliseSnapshot(null).devices).toEqual([]);
  });
});

describe('series store', () => {
  it('keeps a bounded window and gaps for missing devices', () => {
    const store = new SeriesStore(3);
    store.push(1, [device({ uuid: 'a', utilization_gpu: 1 })]);
    store.push(2, [device({ uuid: 'a', utilization_gpu: 2 }), device({ uuid: 'b', utilization_gpu: 9 })]);
    store.push(3, [device({ uuid: 'b', utilization_gpu: 8 })]);
    store.push(4, [device({ uuid: 'a', utilization_gpu: null })]);
    expect(store.length).toBe(3);
    expect(store.data('a', 'utilization_gpu')).toEqual([[2, 3, 4], [2, null, null]]);
    expect(store.data('b', 'utilization_gpu')).toEqual([[2, 3, 4], [9, 8, null]]);
    expect(store.data('missing', 'utilization_gpu')).toEqual([[], []]);
  });

  it('ignores samples that do not move time forward', () => {
    const store = new SeriesStore(10);
    store.push(5, [device({})]);
    store.push(5, [device({})]);
    store.push(4, [device({})]);
    expect(store.length).toBe(1);
  });
});

describe('server shapes', () => {
  it('reads the server snapshot fields, MIG devices and performance state', () => {
    const snapshot = normaliseSnapshot({
      status: 'ok',
      message: '1 GPU(s) visible.',
      timestamp: 3,
      devices: [
        {
          index: 0,
          kind: 'gpu',
          status: 'ok',
          uuid: 'GPU-a',
          name: 'NVIDIA A100 80GB PCIe',
          utilization_gpu: null,
          clock_sm_mhz: 1410,
          performance_state: 0,
          processes: [{ pid: 7, command: 'python', user: 'rita', own: true, used_memory_bytes: 5 }],
          mig: { enabled: true, devices: [{ index: 0, kind: 'mig', uuid: 'MIG-b', profile: '3g.40gb' }] },
          unsupported: ['utilization_gpu', 'fan_percent']
        },
        { index: 1, kind: 'gpu', status: 'gpu_lost', message: 'GPU is lost' }
      ]
    });
    const [gpu, mig, lost] = snapshot.devices;
    expect(gpu.sm_clock_mhz).toBe(1410);
    expect(gpu.performance_state).toBe('P0');
    expect(gpu.processes[0]).toMatchObject({ pid: 7, name: 'python', own: true });
    expect(mig).toMatchObject({ uuid: 'MIG-b', kind: 'mig', parent_uuid: 'GPU-a' });
    expect(lost.error).toBe('GPU is lost');
  });

  it('replays history samples as snapshots', () => {
    const snapshots = historyToSnapshots({
      devices: [
        { uuid: 'GPU-a', kind: 'gpu', index: 0, name: 'T4' },
        { uuid: 'MIG-b', kind: 'mig', index: '0:1', parent_uuid: 'GPU-x', profile: '1g.10gb' }
      ],
      samples: [
        { timestamp: 1, values: { 'GPU-a': { utilization_gpu: 5 }, 'MIG-b': { memory_used_bytes: 9 } } },
        { timestamp: 2, values: { 'GPU-a': { utilization_gpu: 6 } } }
      ]
    });
    expect(snapshots.map(s => s.timestamp)).toEqual([1, 2]);
    expect(snapshots[0].devices[0]).toMatchObject({ uuid: 'GPU-a', utilization_gpu: 5, name: 'T4' });
    expect(snapshots[0].devices[1]).toMatchObject({ kind: 'mig', parent_uuid: 'GPU-x', memory_used_bytes: 9 });
    expect(snapshots[1].devices).toHaveLength(1);
  });
});
