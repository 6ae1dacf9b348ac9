// A small TensorFlow.js subset: float32 tensors with a shape. Registered as M.tf.
(function (g, N, M) {
  'use strict';

  // Flattens nested arrays, returning [values, shape].
  function flatten(values) {
    if (ArrayBuffer.isView(values)) return [Array.from(values), [values.length]];
    if (!Array.isArray(values)) {
      if (typeof values === 'number' || typeof values === 'boolean') return [[Number(values)], []];
      throw new TypeError('tf.tensor: values must be a number or a (nested) array of numbers');
    }
    if (values.length === 0) return [[], [0]];
    const inner = values.map(flatten);
    const sub = inner[0][1];
    for (const [, s] of inner) {
      if (s.length !== sub.length || s.some((d, i) => d !== sub[i])) {
        throw new Error('tf.tensor: ragged nested arrays are not a tensor');
      }
    }
    return [[].concat(...inner.map(x => x[0])), [values.length].concat(sub)];
  }
  const sizeOf = shape => shape.reduce((a, b) => a * b, 1);
  function checkShape(shape, size) {
    if (!Array.isArray(shape) || shape.some(d => !Number.isInteger(d) || d < 0)) {
      throw new Error('tf: shape must be an array of non-negative integers, got ' + JSON.stringify(shape));
    }
    if (size !== undefined && sizeOf(shape) !== size) {
      throw new Error('tf: shape [' + shape + '] does not match ' + size + ' values');
    }
    return shape.slice();
  }

  let live = 0;
  class Tensor {
    constructor(data, shape) {
      this._data = data instanceof Float32Array ? data : Float32Array.from(data);
      this.shape = checkShape(shape, this._data.length);
      this.dtype = 'float32';
      this.isDisposed = false;
      live++;
    }
    get size() { return this._data.length; }
    get rank() { return this.shape.length; }
    dataSync() { return this._data.slice(); }
    data() { return Promise.resolve(this.dataSync()); }
    arraySync() {
      const d = Array.from(this._data);
      if (this.shape.length === 0) return d[0];
      const build = (offset, dims) => {
        if (dims.length === 1) return d.slice(offset, offset + dims[0]);
        const step = sizeOf(dims.slice(1));
        const out = [];
        for (let i = 0; i < dims[0]; i++) out.push(build(offset + i * step, dims.slice(1)));
        return out;
      };
      return build(0, this.shape);
    }
    array() { return Promise.resolve(this.arraySync()); }
    reshape(shape) {
      const s = shape.slice();
      const free = s.indexOf(-1);
      if (free >= 0) s[free] = this.size / sizeOf(s.filter((_, i) => i !== free));
      return new Tensor(this._data.slice(), s);
    }
    clone() { return new Tensor(this._data.slice(), this.shape); }
    _zip(other, op) {
      const o = other instanceof Tensor ? other : tensor(other);
      if (o.size === 1) return new Tensor(this._data.map(x => op(x, o._data[0])), this.shape);
      if (o.size !== this.size) throw new Error('tf: shapes [' + this.shape + '] and [' + o.shape + '] do not match');
      return new Tensor(this._data.map((x, i) => op(x, o._data[i])), this.shape);
    }
    add(o) { return this._zip(o, (a, b) => a + b); }
    sub(o) { return this._zip(o, (a, b) => a - b); }
    mul(o) { return this._zip(o, (a, b) => a * b); }
    div(o) { return this._zip(o, (a, b) => a / b); }
    dispose() { if (!this.isDisposed) { this.isDisposed = true; live--; } }
    print() { console.log(this.toString()); }
    toString() { return 'Tensor [' + this.shape + '] ' + JSON.stringify(this.arraySync()); }
    __semaFormat() { return this.toString(); }
  }

  function tensor(values, shape) {
    const [flat, inferred] = flatten(values);
    return new Tensor(flat, shape === undefined ? inferred : shape);
  }
  function tensor1d(values) {
    const t = tensor(values);
    if (t.rank !== 1) throw new Error('tf.tensor1d: values must be a flat array');
    return t;
  }
  function tensor2d(values, shape) {
    const t = tensor(values, shape);
    if (t.rank !== 2) throw new Error('tf.tensor2d: needs a 2-D shape, got [' + t.shape + ']');
    return t;
  }

  // A seedable generator (mulberry32) when a seed is given, Math.random otherwise.
  function rng(seed) {
    if (seed === undefined) return Math.random;
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6D2B79F5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  function randomNormal(shape, mean = 0, stdDev = 1, dtype, seed) {
    const n = sizeOf(checkShape(shape));
    const r = rng(seed);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i += 2) {
      // Box-Muller: two independent normals per pair of uniforms.
      const u = 1 - r(), v = r();
      const m = Math.sqrt(-2 * Math.log(u));
      out[i] = mean + stdDev * m * Math.cos(2 * Math.PI * v);
      if (i + 1 < n) out[i + 1] = mean + stdDev * m * Math.sin(2 * Math.PI * v);
    }
    return new Tensor(out, shape);
  }
  function randomUniform(shape, minval = 0, maxval = 1, dtype, seed) {
    const n = sizeOf(checkShape(shape));
    const r = rng(seed);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = minval + (maxval - minval) * r();
    return new Tensor(out, shape);
  }
  const fill = (shape, v) => new Tensor(new Float32Array(sizeOf(checkShape(shape))).fill(v), shape);

  function dispose(x) {
    if (x instanceof Tensor) x.dispose();
    else if (Array.isArray(x)) x.forEach(dispose);
    else if (x && typeof x === 'object') Object.values(x).forEach(dispose);
  }
  function tidy(nameOrFn, fn) {
    const f = typeof nameOrFn === 'function' ? nameOrFn : fn;
    if (typeof f !== 'function') throw new TypeError('tf.tidy: needs a function');
    return f();
  }

  M.tf = {
    Tensor, tensor, tensor1d, tensor2d, scalar: v => tensor(v, []),
    randomNormal, randomUniform, zeros: s => fill(s, 0), ones: s => fill(s, 1),
    tidy, dispose, keep: t => t,
    memory: () => ({ numTensors: live }),
    ready: () => Promise.resolve(),
    getBackend: () => 'sema-live',
    setBackend: () => Promise.resolve(true),
  };
})
