import { parseLiteral, readParameters } from '../offload/params';

const cell = (source: string, tags: string[] = ['parameters'], cell_type = 'code') => ({
  cell_type,
  source,
  tags
});

describe('readParameters', () => {
  it('reads literal assignments of the first parameters cell', () => {
    const params = readParameters([
      cell('import numpy', []),
      cell(
        [
          'epochs = 10  # how many',
          "lr: float = 1e-3",
          'name = "run #1"',
          "tag = 'it\\'s'",
          'use_gpu = True',
          'seed = None',
          'sizes = [32, 64,]',
          'opts = {"a": (1, 2)}',
          'derived = epochs * 2',
          'if True:',
          '    hidden = 1'
        ].join('\n')
      ),
      cell('epochs = 99')
    ]);
    expect(params.map(p => [p.name, p.value])).toEqual([
      ['epochs', 10],
      ['lr', 0.001],
      ['name', 'run #1'],
      ['tag', "it's"],
      ['use_gpu', true],
      ['seed', null],
      ['sizes', [32, 64]],
      ['opts', { a: [1, 2] }]
    ]);
    expect(params[0].text).toBe('10');
    expect(params[2].text).toBe('"run #1"');
  });

  it('finds nothing without a code cell tagged parameters', () => {
    expect(readParameters([cell('x = 1', []), cell('x = 1', ['parameters'], 'markdown')])).toEqual(
      []
    );
  });
});

describe('parseLiteral', () => {
  it('refuses names and expressions with a reason', () => {
    expect(() => parseLiteral('epochs')).toThrow('epochs is not a literal');
    expect(() => parseLiteral('1 +')).toThrow('not a Python literal');
    expect(() => parseLiteral('  ')).toThrow('empty');
  });

  it('reads numbers with underscores and a trailing dot', () => {
    expect(parseLiteral('1_000')).toBe(1000);
    expect(parseLiteral('2.')).toBe(2);
    expect(parseLiteral('-0.5')).toBe(-0.5);
  });
});
