import { describeHealth, isHealth } from '../health';

describe('health', () => {
  it('accepts a well-formed answer', () => {
    expect(isHealth({ name: 'accelhub', version: '1.0', features: {} })).toBe(true);
  });

  it('rejects answers missing fields', () => {
    expect(isHealth(null)).toBe(false);
    expect(isHealth({ name: 'accelhub', version: 1, features: {} })).toBe(false);
    expect(isHealth({ name: 'accelhub', version: '1.0' })).toBe(false);
  });

  it('lists enabled features in order', () => {
    const text = describeHealth({
      name: 'accelhub',
      version: '0.1.0',
      features: { offload: true, telemetry: true, beta: false }
    });
    expect(text).toBe('accelhub 0.1.0 · offload, telemetry');
  });

  it('omits the feature list when none are on', () => {
    expect(describeHealth({ name: 'accelhub', version: '2', features: {} })).toBe(
      'accelhub 2'
    );
  });
});
