import { formatEnergy } from '../telemetry/format';
import { IdleWatch, snapshotIdle } from '../telemetry/idle';
import { IDeviceSample, ISnapshot } from '../telemetry/model';

function snap(timestamp: number, utilisation: number | null, processes = 0): ISnapshot {
  const device = {
    uuid: 'GPU-1',
    index: 0,
    name: 'Tesla T4',
    kind: utilisation === null ? 'mig' : 'gpu',
    utilization_gpu: utilisation,
    memory_used_bytes: 1,
    memory_total_bytes: 2,
    processes: Array.from({ length: processes }, (_, pid) => ({ pid, used_memory_bytes: 1 }))
  } as unknown as IDeviceSample;
  return { status: 'ok', message: '', timestamp, devices: [device] };
}

describe('idle watch', () => {
  it('warns only after the devices stayed idle for the whole delay', () => {
    const watch = new IdleWatch(600);
    watch.update(snap(1000, 0));
    expect(watch.warn(1000)).toBe(false);
    watch.update(snap(1599, 0));
    expect(watch.warn(1599)).toBe(false);
    watch.update(snap(1600, 0));
    expect(watch.warn(1600)).toBe(true);
    expect(watch.idleSeconds(1600)).toBe(600);
    watch.update(snap(1601, 35)); // busy again: the run starts over
    expect(watch.warn(1601)).toBe(false);
    watch.update(snap(1602, 0));
    expect(watch.idleSince).toBe(1602);
  });

  it('reads a MIG slice by its processes and says nothing without devices', () => {
    expect(snapshotIdle(snap(1, null, 0))).toBe(true);
    expect(snapshotIdle(snap(1, null, 1))).toBe(false);
    expect(snapshotIdle({ status: 'ok', message: '', timestamp: 1, devices: [] })).toBeNull();
    const noGpu = { status: 'no_gpu', message: '', timestamp: 1, devices: [] };
    expect(snapshotIdle(noGpu as unknown as ISnapshot)).toBeNull();
  });
});

describe('energy in the GPU panel', () => {
  it('reads in Wh, then kWh, and n/a without power readings', () => {
    expect(formatEnergy(12.4)).toBe('12 Wh');
    expect(formatEnergy(2440)).toBe('2.4 kWh');
    expect(formatEnergy(null)).toBe('n/a');
    expect(formatEnergy(undefined)).toBe('n/a');
  });
});
