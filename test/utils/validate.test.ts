import { assertFiniteNumber, assertInRange, show } from '../../src/utils/validate';
import { resolveViTOptions } from '../../src/models/options';

describe('error messages show the bad value as written', () => {
  it('NaN and ±Infinity are named, not turned into null (JSON would)', () => {
    expect(show(NaN)).toBe('NaN');
    expect(show(-Infinity)).toBe('-Infinity');
    expect(show([1, NaN, Infinity])).toBe('[1,NaN,Infinity]');
    expect(show({ mean: [NaN, 2] })).toBe('{"mean":[NaN,2]}');
    expect(show('x')).toBe("'x'");
    expect(show(undefined)).toBe('undefined');
  });

  it('option checks name the option and the non-finite value', () => {
    expect(() => assertFiniteNumber('learningRate', NaN)).toThrow('learningRate must be a finite number, got NaN');
    expect(() => assertInRange('dropout', Infinity, 0, 1)).toThrow('dropout must be in [0, 1], got Infinity');
    expect(() => resolveViTOptions({ normalization: { mean: [NaN, 1, 2], variance: [1, 1, 1] } })).toThrow(/NaN/);
    expect(() => resolveViTOptions({ mlpHeadUnits: [64, Infinity] })).toThrow('mlpHeadUnits[1] must be a positive integer, got Infinity');
  });
});
