// TensorFlow.js as Sema's programs use it: float32 tensors with a shape and the ops on
// them (written here in JS: the tensors these programs make are small), and the Layers
// API (tf.sequential, tf.layers.dense/dropout, compile, fit, predict...), whose models
// live in Rust and train on the training thread (natives `layers*`). Registered as M.tf.
(function (g, N, M) {
  'use strict';

  // ---------------------------------------------------------------- shapes and data

  // Flattens nested arrays, returning [values, shape].
  function flatten(values) {
    if (values instanceof Tensor) return [Array.from(values._live()._data), values.shape.slice()];
    if (ArrayBuffer.isView(values)) return [Array.from(values), [values.length]];
    if (!Array.isArray(values)) {
      if (typeof values === 'number' || typeof values === 'boolean') return [[Number(values)], []];
      throw new TypeError('tf.tensor: values must be a number or a (nested) array of numbers');
    }
    if (values.length === 0) return [[], [0]];
    if (values.every(v => typeof v === 'number' || typeof v === 'boolean')) {
      return [values.map(Number), [values.length]];
    }
    const inner = values.map(flatten);
    const sub = inner[0][1];
    for (const [, s] of inner) {
      if (s.length !== sub.length || s.some((d, i) => d !== sub[i])) {
        throw new Error('tf.tensor: ragged nested arrays are not a tensor');
      }
    }
    const out = [];
    for (const [v] of inner) for (let i = 0; i < v.length; i++) out.push(v[i]);
    return [out, [values.length].concat(sub)];
  }
  const sizeOf = shape => shape.reduce((a, b) => a * b, 1);
  const shapeStr = s => '[' + s.join(',') + ']';
  function checkShape(shape, size) {
    if (!Array.isArray(shape) || shape.some(d => !Number.isInteger(d) || d < 0)) {
      throw new Error('tf: shape must be an array of non-negative integers, got ' + JSON.stringify(shape));
    }
    if (size !== undefined && sizeOf(shape) !== size) {
      throw new Error('tf: shape ' + shapeStr(shape) + ' does not match ' + size + ' values');
    }
    return shape.slice();
  }
  function stridesOf(shape) {
    const s = new Array(shape.length);
    let acc = 1;
    for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
    return s;
  }
  const normAxis = (axis, rank, what) => {
    const a = axis < 0 ? axis + rank : axis;
    if (!Number.isInteger(a) || a < 0 || a >= Math.max(rank, 1)) {
      throw new Error(what + ': axis ' + axis + ' is out of range for a tensor of rank ' + rank);
    }
    return a;
  };

  // ---------------------------------------------------------------- memory (tidy)

  let live = 0;
  const scopes = [];
  function track(t) {
    live++;
    if (scopes.length) scopes[scopes.length - 1].push(t);
  }

  // ---------------------------------------------------------------- Tensor

  class Tensor {
    constructor(data, shape, dtype) {
      this._data = data instanceof Float32Array ? data : Float32Array.from(data);
      this.shape = checkShape(shape, this._data.length);
      this.dtype = dtype || 'float32';
      if (this.dtype === 'int32' || this.dtype === 'bool') {
        for (let i = 0; i < this._data.length; i++) this._data[i] = Math.trunc(this._data[i]);
      }
      this.isDisposed = false;
      this._kept = false;
      track(this);
    }
    _live() {
      if (this.isDisposed) throw new Error('Tensor is disposed.');
      return this;
    }
    get size() { return this._data.length; }
    get rank() { return this.shape.length; }
    get rankType() { return String(this.shape.length); }
    dataSync() {
      this._live();
      if (this.dtype === 'int32') return Int32Array.from(this._data);
      if (this.dtype === 'bool') return Uint8Array.from(this._data);
      return this._data.slice();
    }
    data() { return Promise.resolve(this.dataSync()); }
    arraySync() {
      const d = Array.from(this.dataSync());
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
    bufferSync() { return { values: this.dataSync(), shape: this.shape.slice(), get: (...i) => this._data[i.reduce((a, x, k) => a + x * stridesOf(this.shape)[k], 0)] }; }
    buffer() { return Promise.resolve(this.bufferSync()); }
    reshape(shape) { return reshape(this, shape); }
    as1D() { return reshape(this, [-1]); }
    as2D(r, c) { return reshape(this, [r, c]); }
    flatten() { return reshape(this, [-1]); }
    asScalar() { if (this.size !== 1) throw new Error('asScalar: the tensor has ' + this.size + ' values'); return reshape(this, []); }
    expandDims(axis) { return expandDims(this, axis); }
    squeeze(axis) { return squeeze(this, axis); }
    clone() { return new Tensor(this._live()._data.slice(), this.shape, this.dtype); }
    cast(dtype) { return cast(this, dtype); }
    toFloat() { return cast(this, 'float32'); }
    toInt() { return cast(this, 'int32'); }
    toBool() { return cast(this, 'bool'); }
    dispose() { if (!this.isDisposed) { this.isDisposed = true; live--; } }
    print() { console.log(this.toString()); }
    toString() { return 'Tensor ' + shapeStr(this.shape) + ' ' + JSON.stringify(this.isDisposed ? '(disposed)' : this.arraySync()); }
    __semaFormat() { return this.toString(); }
  }
  const methods = {
    add: (a, b) => add(a, b), sub: (a, b) => sub(a, b), mul: (a, b) => mul(a, b),
    div: (a, b) => div(a, b), pow: (a, b) => pow(a, b), maximum: (a, b) => maximum(a, b),
    minimum: (a, b) => minimum(a, b), mod: (a, b) => mod(a, b),
    squaredDifference: (a, b) => squaredDifference(a, b),
    equal: (a, b) => equal(a, b), notEqual: (a, b) => notEqual(a, b),
    greater: (a, b) => greater(a, b), greaterEqual: (a, b) => greaterEqual(a, b),
    less: (a, b) => less(a, b), lessEqual: (a, b) => lessEqual(a, b),
    sum: (a, x, k) => sum(a, x, k), mean: (a, x, k) => mean(a, x, k), min: (a, x, k) => min(a, x, k),
    max: (a, x, k) => max(a, x, k), prod: (a, x, k) => prod(a, x, k),
    argMax: (a, x) => argMax(a, x), argMin: (a, x) => argMin(a, x),
    square: a => square(a), sqrt: a => sqrt(a), exp: a => exp(a), log: a => log(a), abs: a => abs(a),
    neg: a => neg(a), relu: a => relu(a), sigmoid: a => sigmoid(a), tanh: a => tanh(a),
    softmax: a => softmax(a), round: a => round(a), floor: a => floor(a), ceil: a => ceil(a),
    sign: a => sign(a), reciprocal: a => reciprocal(a), sin: a => sin(a), cos: a => cos(a),
    log1p: a => log1p(a), clipByValue: (a, lo, hi) => clipByValue(a, lo, hi),
    matMul: (a, b, ta, tb) => matMul(a, b, ta, tb), dot: (a, b) => dot(a, b),
    transpose: (a, p) => transpose(a, p), slice: (a, b, s) => slice(a, b, s),
    concat: (a, b, axis) => concat([a].concat(b instanceof Tensor ? [b] : b), axis),
    gather: (a, i, axis) => gather(a, i, axis), tile: (a, r) => tile(a, r),
    reverse: (a, axis) => reverse(a, axis), oneHot: (a, d, on, off) => oneHot(a, d, on, off),
    norm: a => sqrt(sum(square(a))),
  };
  for (const [name, f] of Object.entries(methods)) {
    Object.defineProperty(Tensor.prototype, name, {
      value: function (...args) { return f(this, ...args); }, writable: true, configurable: true,
    });
  }

  function asTensor(x, what) {
    if (x instanceof Tensor) return x._live();
    if (typeof x === 'number' || typeof x === 'boolean') return new Tensor([Number(x)], []);
    if (Array.isArray(x) || ArrayBuffer.isView(x)) return tensor(x);
    throw new TypeError((what || 'tf') + ': expected a tensor, number or array, got ' + (x === null ? 'null' : typeof x));
  }

  function tensor(values, shape, dtype) {
    const [flat, inferred] = flatten(values);
    if (shape !== undefined && shape !== null) {
      const s = checkShape(shape);
      if (flat.length === 1 && sizeOf(s) > 1) return new Tensor(new Float32Array(sizeOf(s)).fill(flat[0]), s, dtype);
      return new Tensor(flat, s, dtype);
    }
    return new Tensor(flat, inferred, dtype);
  }
  function ranked(n, name) {
    return (values, shape, dtype) => {
      const t = tensor(values, shape, dtype);
      if (t.rank !== n) {
        const got = t.shape;
        t.dispose();
        throw new Error(name + ': tensor' + n + 'd() requires values of rank ' + n + ' (or a shape of ' + n + ' dimensions), got shape ' + shapeStr(got));
      }
      return t;
    };
  }

  // ---------------------------------------------------------------- element-wise ops

  function broadcastShape(a, b, what) {
    const n = Math.max(a.length, b.length);
    const out = new Array(n);
    for (let i = 0; i < n; i++) {
      const da = i - (n - a.length) >= 0 ? a[i - (n - a.length)] : 1;
      const db = i - (n - b.length) >= 0 ? b[i - (n - b.length)] : 1;
      if (da === db || db === 1) out[i] = da;
      else if (da === 1) out[i] = db;
      else throw new Error(what + ': Operands could not be broadcast together with shapes ' + shapeStr(a) + ' and ' + shapeStr(b) + '.');
    }
    return out;
  }
  function binary(name, op, outDtype) {
    return (x, y) => {
      const a = asTensor(x, 'tf.' + name), b = asTensor(y, 'tf.' + name);
      const dtype = outDtype || (a.dtype === 'int32' && b.dtype === 'int32' && name !== 'div' ? 'int32' : 'float32');
      const A = a._data, B = b._data;
      if (a.size === b.size && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i])) {
        const out = new Float32Array(A.length);
        for (let i = 0; i < A.length; i++) out[i] = op(A[i], B[i]);
        return new Tensor(out, a.shape, dtype);
      }
      const shape = broadcastShape(a.shape, b.shape, 'tf.' + name);
      const out = new Float32Array(sizeOf(shape));
      if (b.size === 1) { for (let i = 0; i < out.length; i++) out[i] = op(A[i], B[0]); return new Tensor(out, shape, dtype); }
      if (a.size === 1) { for (let i = 0; i < out.length; i++) out[i] = op(A[0], B[i]); return new Tensor(out, shape, dtype); }
      const n = shape.length;
      const sa = stridesOf(a.shape), sb = stridesOf(b.shape), so = stridesOf(shape);
      for (let i = 0; i < out.length; i++) {
        let ia = 0, ib = 0, rest = i;
        for (let d = 0; d < n; d++) {
          const c = Math.floor(rest / so[d]);
          rest -= c * so[d];
          const da = d - (n - a.shape.length), db = d - (n - b.shape.length);
          if (da >= 0 && a.shape[da] !== 1) ia += c * sa[da];
          if (db >= 0 && b.shape[db] !== 1) ib += c * sb[db];
        }
        out[i] = op(A[ia], B[ib]);
      }
      return new Tensor(out, shape, dtype);
    };
  }
  const f32 = Math.fround;
  const add = binary('add', (a, b) => a + b);
  const sub = binary('sub', (a, b) => a - b);
  const mul = binary('mul', (a, b) => a * b);
  const div = binary('div', (a, b) => a / b);
  const pow = binary('pow', (a, b) => Math.pow(a, b));
  const mod = binary('mod', (a, b) => ((a % b) + b) % b);
  const maximum = binary('maximum', (a, b) => Math.max(a, b));
  const minimum = binary('minimum', (a, b) => Math.min(a, b));
  const squaredDifference = binary('squaredDifference', (a, b) => (a - b) * (a - b));
  const equal = binary('equal', (a, b) => a === b ? 1 : 0, 'bool');
  const notEqual = binary('notEqual', (a, b) => a !== b ? 1 : 0, 'bool');
  const greater = binary('greater', (a, b) => a > b ? 1 : 0, 'bool');
  const greaterEqual = binary('greaterEqual', (a, b) => a >= b ? 1 : 0, 'bool');
  const less = binary('less', (a, b) => a < b ? 1 : 0, 'bool');
  const lessEqual = binary('lessEqual', (a, b) => a <= b ? 1 : 0, 'bool');

  function unary(name, op, keepInt) {
    return x => {
      const a = asTensor(x, 'tf.' + name);
      const out = new Float32Array(a.size);
      for (let i = 0; i < out.length; i++) out[i] = op(a._data[i]);
      return new Tensor(out, a.shape, keepInt && a.dtype === 'int32' ? 'int32' : 'float32');
    };
  }
  const square = unary('square', v => v * v, true);
  const sqrt = unary('sqrt', Math.sqrt);
  const exp = unary('exp', Math.exp);
  const log = unary('log', Math.log);
  const log1p = unary('log1p', Math.log1p);
  const abs = unary('abs', Math.abs, true);
  const neg = unary('neg', v => -v, true);
  const relu = unary('relu', v => Math.max(v, 0), true);
  const sigmoid = unary('sigmoid', v => 1 / (1 + Math.exp(-v)));
  const tanh = unary('tanh', Math.tanh);
  const round = unary('round', v => { const r = Math.round(v); return (r - v === 0.5 && r % 2 !== 0) ? r - 1 : r; });
  const floor = unary('floor', Math.floor);
  const ceil = unary('ceil', Math.ceil);
  const sign = unary('sign', Math.sign);
  const reciprocal = unary('reciprocal', v => 1 / v);
  const sin = unary('sin', Math.sin);
  const cos = unary('cos', Math.cos);
  function clipByValue(x, lo, hi) {
    if (lo > hi) throw new Error('tf.clipByValue: min ' + lo + ' is greater than max ' + hi);
    return unary('clipByValue', v => Math.min(hi, Math.max(lo, v)), true)(x);
  }
  function cast(x, dtype) {
    const a = asTensor(x, 'tf.cast');
    if (!['float32', 'int32', 'bool'].includes(dtype)) throw new Error("tf.cast: unknown dtype '" + dtype + "'");
    const d = a._data.slice();
    if (dtype === 'bool') for (let i = 0; i < d.length; i++) d[i] = d[i] !== 0 ? 1 : 0;
    return new Tensor(d, a.shape, dtype);
  }
  function softmax(x, dim = -1) {
    const a = asTensor(x, 'tf.softmax');
    if (normAxis(dim, a.rank, 'tf.softmax') !== a.rank - 1) throw new Error('tf.softmax: only the last axis is supported');
    const n = a.shape[a.rank - 1] || 1;
    const out = new Float32Array(a.size);
    for (let r = 0; r < a.size; r += n) {
      let m = -Infinity;
      for (let i = 0; i < n; i++) m = Math.max(m, a._data[r + i]);
      let s = 0;
      for (let i = 0; i < n; i++) { out[r + i] = Math.exp(a._data[r + i] - m); s += out[r + i]; }
      for (let i = 0; i < n; i++) out[r + i] /= s;
    }
    return new Tensor(out, a.shape);
  }

  // ---------------------------------------------------------------- reductions

  function axesOf(axis, rank, what) {
    if (axis === undefined || axis === null) return Array.from({ length: rank }, (_, i) => i);
    const list = Array.isArray(axis) ? axis : [axis];
    return list.map(a => normAxis(a, rank, what));
  }
  // Reduces `x` over `axis` with fn(values[]) → number.
  function reduce(name, fn, intOut) {
    return (x, axis, keepDims = false) => {
      const a = asTensor(x, 'tf.' + name);
      const axes = axesOf(axis, a.rank, 'tf.' + name);
      const outShape = [], keptShape = [];
      a.shape.forEach((d, i) => {
        if (axes.includes(i)) { keptShape.push(1); } else { outShape.push(d); keptShape.push(d); }
      });
      const groups = new Map();
      const st = stridesOf(a.shape), sk = stridesOf(keptShape);
      for (let i = 0; i < a.size; i++) {
        let o = 0, rest = i;
        for (let d = 0; d < a.rank; d++) {
          const c = Math.floor(rest / st[d]);
          rest -= c * st[d];
          if (!axes.includes(d)) o += c * sk[d];
        }
        let gr = groups.get(o);
        if (!gr) { gr = []; groups.set(o, gr); }
        gr.push(a._data[i]);
      }
      const n = sizeOf(outShape);
      const out = new Float32Array(n);
      for (let o = 0; o < n; o++) out[o] = fn(groups.get(o) || []);
      const dtype = intOut ? 'int32' : (a.dtype === 'int32' && name !== 'mean' ? 'int32' : 'float32');
      return new Tensor(out, keepDims ? keptShape : outShape, dtype);
    };
  }
  const sum = reduce('sum', v => { let s = 0; for (const x of v) s += x; return s; });
  const prod = reduce('prod', v => { let s = 1; for (const x of v) s *= x; return s; });
  const mean = reduce('mean', v => { let s = 0; for (const x of v) s += x; return s / v.length; });
  const min = reduce('min', v => { let m = Infinity; for (const x of v) m = Math.min(m, x); return m; });
  const max = reduce('max', v => { let m = -Infinity; for (const x of v) m = Math.max(m, x); return m; });
  function argReduce(name, better) {
    return (x, axis = 0) => {
      const a = asTensor(x, 'tf.' + name);
      if (Array.isArray(axis)) axis = axis[0];
      return reduce(name, v => { let b = 0; for (let i = 1; i < v.length; i++) if (better(v[i], v[b])) b = i; return b; }, true)(a, axis, false);
    };
  }
  const argMax = argReduce('argMax', (a, b) => a > b);
  const argMin = argReduce('argMin', (a, b) => a < b);
  const moments = (x, axis, keepDims) => ({ mean: mean(x, axis, keepDims), variance: mean(square(sub(x, mean(x, axis, true))), axis, keepDims) });

  // ---------------------------------------------------------------- shape ops

  function reshape(x, shape) {
    const a = asTensor(x, 'tf.reshape');
    const s = Array.isArray(shape) ? shape.slice() : [shape];
    const free = s.indexOf(-1);
    if (free >= 0) {
      const rest = sizeOf(s.filter((_, i) => i !== free));
      if (rest === 0 || a.size % rest !== 0) throw new Error('tf.reshape: cannot reshape a tensor of ' + a.size + ' values into shape ' + shapeStr(shape));
      s[free] = a.size / rest;
    }
    if (sizeOf(s) !== a.size) throw new Error('tf.reshape: cannot reshape a tensor of shape ' + shapeStr(a.shape) + ' (' + a.size + ' values) into shape ' + shapeStr(s));
    return new Tensor(a._data.slice(), s, a.dtype);
  }
  function expandDims(x, axis = 0) {
    const a = asTensor(x, 'tf.expandDims');
    const ax = axis < 0 ? axis + a.rank + 1 : axis;
    if (ax < 0 || ax > a.rank) throw new Error('tf.expandDims: axis ' + axis + ' is out of range');
    const s = a.shape.slice(); s.splice(ax, 0, 1);
    return reshape(a, s);
  }
  function squeeze(x, axis) {
    const a = asTensor(x, 'tf.squeeze');
    const axes = axis === undefined ? null : axesOf(axis, a.rank, 'tf.squeeze');
    const s = a.shape.filter((d, i) => !(d === 1 && (axes === null || axes.includes(i))));
    return reshape(a, s);
  }
  function transpose(x, perm) {
    const a = asTensor(x, 'tf.transpose');
    const p = perm || a.shape.map((_, i) => a.rank - 1 - i);
    if (p.length !== a.rank) throw new Error('tf.transpose: perm ' + shapeStr(p) + ' does not match rank ' + a.rank);
    const shape = p.map(i => a.shape[i]);
    const sa = stridesOf(a.shape), so = stridesOf(shape);
    const out = new Float32Array(a.size);
    for (let i = 0; i < a.size; i++) {
      let src = 0, rest = i;
      for (let d = 0; d < shape.length; d++) { const c = Math.floor(rest / so[d]); rest -= c * so[d]; src += c * sa[p[d]]; }
      out[i] = a._data[src];
    }
    return new Tensor(out, shape, a.dtype);
  }
  function slice(x, begin, size) {
    const a = asTensor(x, 'tf.slice');
    const b = Array.isArray(begin) ? begin.slice() : [begin];
    while (b.length < a.rank) b.push(0);
    let sz = size === undefined ? [] : (Array.isArray(size) ? size.slice() : [size]);
    while (sz.length < a.rank) sz.push(-1);
    sz = sz.map((s, i) => s === -1 ? a.shape[i] - b[i] : s);
    for (let i = 0; i < a.rank; i++) {
      if (!(b[i] >= 0 && sz[i] >= 0 && b[i] + sz[i] <= a.shape[i])) {
        throw new Error('tf.slice: begin ' + shapeStr(b) + ' and size ' + shapeStr(sz) + ' do not fit a tensor of shape ' + shapeStr(a.shape));
      }
    }
    const sa = stridesOf(a.shape), so = stridesOf(sz);
    const out = new Float32Array(sizeOf(sz));
    for (let i = 0; i < out.length; i++) {
      let src = 0, rest = i;
      for (let d = 0; d < sz.length; d++) { const c = Math.floor(rest / so[d]); rest -= c * so[d]; src += (c + b[d]) * sa[d]; }
      out[i] = a._data[src];
    }
    return new Tensor(out, sz, a.dtype);
  }
  function concat(list, axis = 0) {
    if (!Array.isArray(list) || list.length === 0) throw new Error('tf.concat: expected a non-empty array of tensors');
    const ts = list.map(t => asTensor(t, 'tf.concat'));
    const rank = ts[0].rank;
    const ax = normAxis(axis, rank, 'tf.concat');
    for (const t of ts) {
      if (t.rank !== rank || t.shape.some((d, i) => i !== ax && d !== ts[0].shape[i])) {
        throw new Error('tf.concat: shapes ' + ts.map(u => shapeStr(u.shape)).join(', ') + ' do not match except along axis ' + ax);
      }
    }
    const outer = sizeOf(ts[0].shape.slice(0, ax));
    const shape = ts[0].shape.slice();
    shape[ax] = ts.reduce((s, t) => s + t.shape[ax], 0);
    const out = new Float32Array(sizeOf(shape));
    let k = 0;
    for (let o = 0; o < outer; o++) {
      for (const t of ts) {
        const chunk = sizeOf(t.shape.slice(ax));
        out.set(t._data.subarray(o * chunk, (o + 1) * chunk), k);
        k += chunk;
      }
    }
    return new Tensor(out, shape, ts.every(t => t.dtype === 'int32') ? 'int32' : 'float32');
  }
  function stack(list, axis = 0) {
    if (!Array.isArray(list) || list.length === 0) throw new Error('tf.stack: expected a non-empty array of tensors');
    return concat(list.map(t => expandDims(t, axis)), axis);
  }
  function unstack(x, axis = 0) {
    const a = asTensor(x, 'tf.unstack');
    const ax = normAxis(axis, a.rank, 'tf.unstack');
    const out = [];
    for (let i = 0; i < a.shape[ax]; i++) {
      const b = a.shape.map(() => 0); b[ax] = i;
      const s = a.shape.slice(); s[ax] = 1;
      out.push(squeeze(slice(a, b, s), [ax]));
    }
    return out;
  }
  function gather(x, indices, axis = 0) {
    const a = asTensor(x, 'tf.gather');
    const idx = Array.from(asTensor(indices, 'tf.gather')._data);
    const ax = normAxis(axis, a.rank, 'tf.gather');
    return concat(idx.map(i => {
      if (!(i >= 0 && i < a.shape[ax])) throw new Error('tf.gather: index ' + i + ' is out of range [0, ' + a.shape[ax] + ')');
      const b = a.shape.map(() => 0); b[ax] = i;
      const s = a.shape.slice(); s[ax] = 1;
      return slice(a, b, s);
    }), ax);
  }
  function tile(x, reps) {
    let a = asTensor(x, 'tf.tile');
    reps.forEach((r, ax) => { if (r > 1) a = concat(new Array(r).fill(a), ax); });
    return a === x ? a.clone() : a;
  }
  function reverse(x, axis) {
    const a = asTensor(x, 'tf.reverse');
    const axes = axesOf(axis, a.rank, 'tf.reverse');
    const st = stridesOf(a.shape);
    const out = new Float32Array(a.size);
    for (let i = 0; i < a.size; i++) {
      let src = 0, rest = i;
      for (let d = 0; d < a.rank; d++) { let c = Math.floor(rest / st[d]); rest -= c * st[d]; if (axes.includes(d)) c = a.shape[d] - 1 - c; src += c * st[d]; }
      out[i] = a._data[src];
    }
    return new Tensor(out, a.shape, a.dtype);
  }
  function oneHot(indices, depth, onValue = 1, offValue = 0) {
    const a = asTensor(indices, 'tf.oneHot');
    if (!Number.isInteger(depth) || depth < 1) throw new Error('tf.oneHot: depth must be a positive integer, got ' + depth);
    const out = new Float32Array(a.size * depth).fill(offValue);
    for (let i = 0; i < a.size; i++) {
      const c = a._data[i];
      if (c >= 0 && c < depth) out[i * depth + c] = onValue;
    }
    return new Tensor(out, a.shape.concat([depth]), 'int32');
  }
  function matMul(x, y, transposeA = false, transposeB = false) {
    let a = asTensor(x, 'tf.matMul'), b = asTensor(y, 'tf.matMul');
    if (a.rank !== 2 || b.rank !== 2) throw new Error('tf.matMul: inputs must be 2-D, got shapes ' + shapeStr(a.shape) + ' and ' + shapeStr(b.shape));
    if (transposeA) a = transpose(a);
    if (transposeB) b = transpose(b);
    const [n, k] = a.shape, [k2, m] = b.shape;
    if (k !== k2) throw new Error('tf.matMul: inner shapes (' + k + ') and (' + k2 + ') of tensors with shapes ' + shapeStr(a.shape) + ' and ' + shapeStr(b.shape) + ' must match');
    const out = new Float32Array(n * m);
    for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += a._data[i * k + t] * b._data[t * m + j];
      out[i * m + j] = s;
    }
    return new Tensor(out, [n, m]);
  }
  function dot(x, y) {
    const a = asTensor(x, 'tf.dot'), b = asTensor(y, 'tf.dot');
    if (a.rank === 1 && b.rank === 1) return sum(mul(a, b));
    const A = a.rank === 1 ? reshape(a, [1, -1]) : a, B = b.rank === 1 ? reshape(b, [-1, 1]) : b;
    const r = matMul(A, B);
    return a.rank === 1 || b.rank === 1 ? reshape(r, [-1]) : r;
  }

  // ---------------------------------------------------------------- creation, random

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
  function truncatedNormal(shape, mean = 0, stdDev = 1, dtype, seed) {
    const n = sizeOf(checkShape(shape));
    const r = rng(seed);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let v;
      do { v = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()); } while (Math.abs(v) > 2);
      out[i] = mean + stdDev * v;
    }
    return new Tensor(out, shape);
  }
  function randomUniform(shape, minval = 0, maxval = 1, dtype, seed) {
    const n = sizeOf(checkShape(shape));
    const r = rng(seed);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = minval + (maxval - minval) * r();
    return new Tensor(out, shape, dtype === 'int32' ? 'int32' : 'float32');
  }
  const fill = (shape, v, dtype) => new Tensor(new Float32Array(sizeOf(checkShape(shape))).fill(v), shape, dtype);
  function range(start, stop, step = 1, dtype) {
    if (stop === undefined) { stop = start; start = 0; }
    if (step === 0) throw new Error('tf.range: step cannot be 0');
    const out = [];
    for (let v = start; step > 0 ? v < stop : v > stop; v += step) out.push(v);
    return new Tensor(out, [out.length], dtype || 'float32');
  }
  function linspace(start, stop, num) {
    const out = [];
    for (let i = 0; i < num; i++) out.push(num === 1 ? start : start + (stop - start) * i / (num - 1));
    return new Tensor(out, [num]);
  }
  function variable(t) {
    const v = asTensor(t, 'tf.variable').clone();
    v.assign = x => { const n = asTensor(x, 'variable.assign'); if (n.size !== v.size) throw new Error('assign: shape mismatch'); v._data = n._data.slice(); };
    return v;
  }

  // ---------------------------------------------------------------- memory API

  // Tensors in `result` (a tensor, array or object of them) survive a tidy.
  function collect(result, out) {
    if (result instanceof Tensor) out.add(result);
    else if (Array.isArray(result)) result.forEach(r => collect(r, out));
    else if (result && typeof result === 'object' && !(result instanceof Promise)) Object.values(result).forEach(r => collect(r, out));
    return out;
  }
  function tidy(nameOrFn, fn) {
    const f = typeof nameOrFn === 'function' ? nameOrFn : fn;
    if (typeof f !== 'function') throw new TypeError('tf.tidy: needs a function');
    scopes.push([]);
    let result, scope;
    try {
      result = f();
    } finally {
      scope = scopes.pop();
    }
    if (result instanceof Promise) throw new Error('Cannot return a Promise inside of tidy.');
    const keepSet = collect(result, new Set());
    for (const t of scope) {
      if (keepSet.has(t) || t._kept) {
        if (scopes.length) scopes[scopes.length - 1].push(t);
      } else {
        t.dispose();
      }
    }
    return result;
  }
  function dispose(x) {
    if (x instanceof Tensor) x.dispose();
    else if (Array.isArray(x)) x.forEach(dispose);
    else if (x && typeof x === 'object') Object.values(x).forEach(dispose);
  }
  function keep(t) { if (t instanceof Tensor) t._kept = true; return t; }

  // ---------------------------------------------------------------- losses

  function lossFn(name, f) {
    const fn = (labels, predictions) => f(asTensor(labels, 'tf.losses.' + name), asTensor(predictions, 'tf.losses.' + name));
    fn._semaLoss = name;
    return fn;
  }
  const EPS = 1e-7;
  const losses = {
    meanSquaredError: lossFn('meanSquaredError', (y, p) => mean(squaredDifference(y, p))),
    absoluteDifference: lossFn('meanAbsoluteError', (y, p) => mean(abs(sub(y, p)))),
    meanAbsoluteError: lossFn('meanAbsoluteError', (y, p) => mean(abs(sub(y, p)))),
    sigmoidCrossEntropy: lossFn('binaryCrossentropy', (y, p) => mean(sub(relu(p), add(mul(p, y), neg(log1p(exp(neg(abs(p))))))))),
    binaryCrossentropy: lossFn('binaryCrossentropy', (y, p) => {
      const c = clipByValue(p, EPS, 1 - EPS);
      return neg(mean(add(mul(y, log(c)), mul(sub(1, y), log(sub(1, c))))));
    }),
    softmaxCrossEntropy: lossFn('categoricalCrossentropy', (y, p) => mean(neg(sum(mul(y, log(softmax(p))), -1)))),
    categoricalCrossentropy: lossFn('categoricalCrossentropy', (y, p) => {
      const q = clipByValue(div(p, sum(p, -1, true)), EPS, 1 - EPS);
      return mean(neg(sum(mul(y, log(q)), -1)));
    }),
  };

  // ---------------------------------------------------------------- optimizers

  class Optimizer {
    constructor(config) { this._config = config; Object.assign(this, config); }
    getClassName() { return { sgd: 'SGD', adam: 'Adam', rmsprop: 'RMSProp', adagrad: 'Adagrad' }[this._config.name]; }
    getConfig() { return Object.assign({}, this._config); }
    dispose() {}
  }
  const num = (v, what) => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !isFinite(v)) throw new TypeError(what + ' must be a finite number, got ' + v);
    return v;
  };
  const train = {
    sgd: learningRate => new Optimizer({ name: 'sgd', learningRate: num(learningRate, 'tf.train.sgd: learningRate') }),
    adam: (learningRate = 0.001, beta1 = 0.9, beta2 = 0.999, epsilon = null) => new Optimizer({
      name: 'adam', learningRate: num(learningRate, 'tf.train.adam: learningRate'), beta1: num(beta1, 'tf.train.adam: beta1'),
      beta2: num(beta2, 'tf.train.adam: beta2'), epsilon: num(epsilon, 'tf.train.adam: epsilon'),
    }),
    rmsprop: (learningRate, decay = 0.9, momentum = 0, epsilon = null, centered = false) => new Optimizer({
      name: 'rmsprop', learningRate: num(learningRate, 'tf.train.rmsprop: learningRate'), decay: num(decay, 'tf.train.rmsprop: decay'),
      momentum: num(momentum, 'tf.train.rmsprop: momentum'), epsilon: num(epsilon, 'tf.train.rmsprop: epsilon'), centered: !!centered,
    }),
    adagrad: (learningRate, initialAccumulatorValue = 0.1) => new Optimizer({
      name: 'adagrad', learningRate: num(learningRate, 'tf.train.adagrad: learningRate'),
      initialAccumulatorValue: num(initialAccumulatorValue, 'tf.train.adagrad: initialAccumulatorValue'),
    }),
    Optimizer,
  };

  // ---------------------------------------------------------------- layers

  const layerCounts = {};
  const snake = s => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
  function layerName(cls, given) {
    if (given !== undefined && given !== null) return String(given);
    layerCounts[cls] = (layerCounts[cls] || 0) + 1;
    return snake(cls) + '_' + cls + layerCounts[cls];
  }
  class Initializer {
    constructor(className, config) { this.className = className; this.config = config || {}; }
    getClassName() { return this.className; }
    apply(shape) {
      const c = this.config;
      switch (this.className) {
        case 'zeros': return fill(shape, 0);
        case 'ones': return fill(shape, 1);
        case 'constant': return fill(shape, c.value || 0);
        case 'randomNormal': return randomNormal(shape, c.mean || 0, c.stddev === undefined ? 0.05 : c.stddev, 'float32', c.seed);
        case 'randomUniform': return randomUniform(shape, c.minval === undefined ? -0.05 : c.minval, c.maxval === undefined ? 0.05 : c.maxval, 'float32', c.seed);
        default: throw new Error('initializer ' + this.className + ': apply() is not supported here; give it to a layer');
      }
    }
  }
  const initializers = {};
  for (const n of ['zeros', 'ones', 'constant', 'randomNormal', 'randomUniform', 'truncatedNormal', 'glorotUniform',
    'glorotNormal', 'heNormal', 'heUniform', 'leCunNormal', 'leCunUniform', 'varianceScaling']) {
    initializers[n] = config => new Initializer(n, config);
  }
  function initializerConfig(v, layer, key) {
    if (v === undefined || v === null) return null;
    if (typeof v === 'string') return v;
    if (v instanceof Initializer) return { className: v.className, config: v.config };
    throw new TypeError('layer ' + layer + ': ' + key + " must be a name like 'glorotUniform' or tf.initializers.*()");
  }
  class Layer {
    constructor(kind, cls, c) {
      if (c === undefined || c === null || typeof c !== 'object') {
        throw new TypeError('tf.layers.' + kind + ': expects a config object, e.g. {units: 8}');
      }
      this.name = layerName(cls, c.name);
      this._cls = cls;
      this._config = {
        kind, name: this.name, units: c.units, inputShape: c.inputShape, batchInputShape: c.batchInputShape,
        inputDim: c.inputDim, activation: c.activation, useBias: c.useBias, rate: c.rate, seed: c.seed,
        kernelInitializer: initializerConfig(c.kernelInitializer, this.name, 'kernelInitializer'),
        biasInitializer: initializerConfig(c.biasInitializer, this.name, 'biasInitializer'),
      };
      if (typeof c.inputShape === 'number') this._config.inputShape = [c.inputShape];
      if (c.activation !== undefined && c.activation !== null && typeof c.activation !== 'string') {
        throw new TypeError('layer ' + this.name + ": activation must be a name like 'relu'");
      }
      this.trainable = true;
    }
    getClassName() { return this._cls; }
    getConfig() { const c = Object.assign({}, this._config); delete c.kind; return c; }
    get units() { return this._config.units; }
    get rate() { return this._config.rate; }
    get activation() { return this._config.activation || 'linear'; }
    getWeights() {
      if (!this._model) return [];
      const all = this._model.getWeights();
      const idx = this._model.layers.indexOf(this);
      let k = 0;
      for (let i = 0; i < idx; i++) if (this._model.layers[i]._cls === 'Dense') k += this._model.layers[i]._config.useBias === false ? 1 : 2;
      if (this._cls !== 'Dense') return [];
      return all.slice(k, k + (this._config.useBias === false ? 1 : 2));
    }
  }
  const layers = {
    dense: c => new Layer('dense', 'Dense', c),
    dropout: c => new Layer('dropout', 'Dropout', c),
  };

  // A 2-D tensor from what fit/predict/evaluate accept (a tensor, or [tensor]).
  function as2D(x, what, arg) {
    if (Array.isArray(x) && x.length === 1 && x[0] instanceof Tensor) x = x[0];
    if (!(x instanceof Tensor)) {
      throw new TypeError(what + ': ' + arg + ' must be a tf.Tensor (e.g. tf.tensor2d(values, [rows, cols])), got ' + (Array.isArray(x) ? 'an array' : typeof x));
    }
    x._live();
    if (x.rank === 1 && arg === 'y') return reshape(x, [-1, 1]);
    if (x.rank !== 2) {
      throw new Error(what + ': Error when checking ' + (arg === 'y' ? 'target' : 'input') + ': expected a 2-D tensor ([samples, features]), but got array with shape ' + shapeStr(x.shape));
    }
    return x;
  }

  class History {
    constructor(h, params) {
      this.validationData = null;
      this.params = params;
      this.epoch = h.epoch;
      this.history = h.history;
    }
  }

  let modelCount = 0;
  class Sequential {
    constructor(args) {
      const a = args || {};
      this._id = N.layersNew(a.seed);
      this.name = a.name || 'sequential_' + (++modelCount);
      this.layers = [];
      this._stop = false;
      this.isTraining = false;
      if (a.layers) {
        if (!Array.isArray(a.layers)) throw new TypeError('tf.sequential: layers must be an array');
        a.layers.forEach(l => this.add(l));
      }
    }
    add(layer) {
      if (!(layer instanceof Layer)) {
        throw new TypeError('model.add: expected a layer made by tf.layers.dense() or tf.layers.dropout(), got ' + (layer === null ? 'null' : typeof layer));
      }
      if (layer._model) throw new Error('model.add: layer ' + layer.name + ' is already part of a model');
      N.layersAdd(this._id, layer._config);
      this.layers.push(layer);
      layer._model = this;
    }
    _info() { return N.layersInfo(this._id); }
    get inputs() { const i = this._info(); return i.inputDim ? [{ shape: [null, i.inputDim], dtype: 'float32' }] : []; }
    get outputs() { const i = this._info(); return i.outputDim ? [{ shape: [null, i.outputDim], dtype: 'float32' }] : []; }
    get outputShape() { return [null, this._info().outputDim]; }
    get inputLayers() { return this.layers.slice(0, 1); }
    get outputLayers() { return this.layers.slice(-1); }
    getLayer(name, index) {
      const l = index !== undefined ? this.layers[index] : this.layers.find(x => x.name === name);
      if (!l) throw new Error('getLayer: no layer ' + (index !== undefined ? 'at index ' + index : "named '" + name + "'"));
      return l;
    }
    compile(args) {
      if (!args || typeof args !== 'object') throw new TypeError('model.compile: expects {loss, optimizer}');
      let loss = Array.isArray(args.loss) && args.loss.length === 1 ? args.loss[0] : args.loss;
      if (typeof loss === 'function') {
        if (!loss._semaLoss) throw new Error('model.compile: custom loss functions are not supported; use a name such as \'meanSquaredError\' or a tf.losses.* function');
        loss = loss._semaLoss;
      }
      let opt = args.optimizer;
      if (opt instanceof Optimizer) opt = opt._config;
      else if (typeof opt !== 'string') throw new TypeError("model.compile: optimizer must be a name ('adam', 'sgd', 'rmsprop', 'adagrad') or tf.train.*(), got " + (opt === undefined ? 'nothing' : typeof opt));
      let metrics = args.metrics;
      if (metrics !== undefined && metrics !== null && !Array.isArray(metrics)) metrics = [metrics];
      if (metrics) metrics = metrics.map(m => typeof m === 'string' ? m : String(m && m.name));
      N.layersCompile(this._id, { loss, optimizer: opt, metrics: metrics || null });
      this.optimizer = args.optimizer instanceof Optimizer ? args.optimizer : new Optimizer(typeof opt === 'string' ? { name: opt.toLowerCase() } : opt);
      this.loss = loss;
      this.metricsNames = ['loss'].concat(metrics && metrics.length ? ['acc'] : []);
      this.isCompiled = true;
    }
    predict(x, args) {
      if (Array.isArray(x) && x.length === 1) x = x[0];
      if (!(x instanceof Tensor)) throw new TypeError('predict: x must be a tf.Tensor, got ' + (Array.isArray(x) ? 'an array' : typeof x));
      x._live();
      const info = this._info();
      if (x.rank !== 2) {
        const first = this.layers.length ? this.layers[0].name : 'the model';
        throw new Error('Error when checking : expected ' + first + '_input to have 2 dimension(s), but got array with shape ' + shapeStr(x.shape));
      }
      const out = N.layersPredict(this._id, x._data, x.shape[0], x.shape[1]);
      return new Tensor(out, [x.shape[0], info.outputDim || 0]);
    }
    predictOnBatch(x) { return this.predict(x); }
    evaluate(x, y, args) {
      const X = as2D(x, 'evaluate', 'x'), Y = as2D(y, 'evaluate', 'y');
      const bs = (args && args.batchSize) || 32;
      const r = N.layersEvaluate(this._id, X._data, X.shape[0], X.shape[1], Y._data, Y.shape[0], Y.shape[1], bs);
      const l = new Tensor([r.loss === undefined ? NaN : r.loss], []);
      return r.acc === undefined ? l : [l, new Tensor([r.acc], [])];
    }
    fit(x, y, args) {
      const a = args || {};
      return new Promise((resolve, reject) => {
        const X = as2D(x, 'fit', 'x'), Y = as2D(y, 'fit', 'y');
        const cbs = a.callbacks === undefined || a.callbacks === null ? [] : (Array.isArray(a.callbacks) ? a.callbacks : [a.callbacks]);
        const call = (name, ...rest) => {
          for (const cb of cbs) {
            if (cb && typeof cb[name] === 'function') cb[name](...rest);
          }
        };
        const wantsBatches = cbs.some(cb => cb && (typeof cb.onBatchBegin === 'function' || typeof cb.onBatchEnd === 'function'));
        let validationData = null;
        if (a.validationData) {
          const [vx, vy] = a.validationData;
          const VX = as2D(vx, 'fit (validationData)', 'x'), VY = as2D(vy, 'fit (validationData)', 'y');
          validationData = [VX, VY].map(t => ({ rows: t.shape[0], cols: t.shape[1], data: Array.from(t._data) }));
        }
        const opts = {
          epochs: a.epochs, batchSize: a.batchSize, shuffle: a.shuffle, validationSplit: a.validationSplit,
          initialEpoch: a.initialEpoch, validationData, batchEvents: wantsBatches,
        };
        const params = {
          epochs: a.epochs === undefined ? 1 : a.epochs, initialEpoch: a.initialEpoch || 0, samples: X.shape[0],
          steps: null, batchSize: a.batchSize === undefined ? 32 : a.batchSize, verbose: a.verbose === undefined ? 1 : a.verbose,
          doValidation: !!(validationData || a.validationSplit), metrics: (this.metricsNames || ['loss']).slice(),
        };
        const model = this;
        const handler = (kind, index, logs) => {
          switch (kind) {
            case 'trainBegin': model.isTraining = true; call('onTrainBegin', logs); break;
            case 'epochBegin': call('onEpochBegin', index, logs); break;
            case 'batchBegin': call('onBatchBegin', index, logs); break;
            case 'batchEnd': call('onBatchEnd', index, logs); break;
            case 'epochEnd': call('onEpochEnd', index, logs); break;
            case 'trainEnd': model.isTraining = false; call('onTrainEnd', logs); break;
          }
        };
        const done = h => { model.isTraining = false; model._stop = false; resolve(new History(h, params)); };
        const fail = e => { model.isTraining = false; model._stop = false; reject(e); };
        N.layersFit(this._id, X._data, X.shape[0], X.shape[1], Y._data, Y.shape[0], Y.shape[1], opts, handler, done, fail);
      });
    }
    summary(lineLength, positions, printFn) {
      const print = typeof printFn === 'function' ? printFn : (s => console.log(s));
      N.layersSummary(this._id).split('\n').forEach(l => print(l));
    }
    countParams() { return this._info().params; }
    getWeights() {
      return N.layersGetWeights(this._id).map(([data, shape]) => new Tensor(data, shape));
    }
    setWeights(weights) {
      if (!Array.isArray(weights)) throw new TypeError('setWeights: expected an array of tensors');
      N.layersSetWeights(this._id, weights.map((w, i) => {
        if (w instanceof Tensor) return w._live()._data;
        if (Array.isArray(w) || ArrayBuffer.isView(w)) return tensor(w)._data;
        throw new TypeError('setWeights: weight ' + i + ' is not a tensor');
      }));
    }
    get stopTraining() { return this._stop; }
    set stopTraining(v) { this._stop = !!v; if (v) N.layersStop(this._id); }
    async save(url) {
      const key = storageKey(url, 'model.save');
      const text = N.layersToJSON(this._id);
      N.layersStore(key, text);
      console.info("model saved as '" + url + "' (with the DAW project)");
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: this.countParams() * 4 } };
    }
    dispose() {
      const n = this.getWeights().length;
      N.layersDispose(this._id);
      return { refCountAfterDispose: 0, numDisposedVariables: n };
    }
    getClassName() { return 'Sequential'; }
  }

  // 'session://name', 'localstorage://name', 'indexeddb://name' → the key in the store.
  function storageKey(url, what) {
    const m = /^(session|localstorage|indexeddb):\/\/(.+)$/.exec(String(url));
    if (!m) throw new Error(what + ": unsupported URL '" + url + "': use 'session://name' (saved with the DAW project; localstorage:// and indexeddb:// are treated the same)");
    return m[2];
  }
  function loadLayersModel(url) {
    return new Promise(resolve => {
      const key = storageKey(url, 'tf.loadLayersModel');
      const text = N.layersLoad(key);
      if (text === null || text === undefined) throw new Error("tf.loadLayersModel: no model saved as '" + key + "' in this project");
      const id = N.layersFromJSON(text);
      const model = Object.create(Sequential.prototype);
      model._id = id;
      model.name = 'sequential_' + (++modelCount);
      model._stop = false;
      model.isTraining = false;
      model.layers = N.layersInfo(id).layers.map(l => {
        const layer = Object.create(Layer.prototype);
        layer.name = l.name;
        layer._cls = l.className;
        layer._config = { kind: l.className.toLowerCase(), name: l.name, units: l.units, activation: l.activation, useBias: l.useBias, rate: l.rate };
        layer._model = model;
        layer.trainable = true;
        return layer;
      });
      resolve(model);
    });
  }

  // ---------------------------------------------------------------- tf

  M.tf = {
    version: { 'tfjs-core': '2.8.6', 'tfjs-layers': '2.8.6', tfjs: '2.8.6' },
    Tensor, tensor, tensor1d: (values, dtype) => ranked(1, 'tensor1d')(values, undefined, dtype), tensor2d: ranked(2, 'tensor2d'),
    tensor3d: ranked(3, 'tensor3d'), tensor4d: ranked(4, 'tensor4d'), scalar: (v, dtype) => tensor(v, [], dtype),
    randomNormal, randomUniform, truncatedNormal,
    zeros: (s, dtype) => fill(s, 0, dtype), ones: (s, dtype) => fill(s, 1, dtype),
    fill: (s, v, dtype) => fill(s, v, dtype),
    zerosLike: x => fill(asTensor(x).shape, 0, asTensor(x).dtype), onesLike: x => fill(asTensor(x).shape, 1, asTensor(x).dtype),
    range, linspace, variable, cast,
    add, sub, mul, div, pow, mod, maximum, minimum, squaredDifference, addN: list => list.reduce((s, t) => add(s, t)),
    equal, notEqual, greater, greaterEqual, less, lessEqual,
    square, sqrt, exp, log, log1p, abs, neg, relu, sigmoid, tanh, softmax, round, floor, ceil, sign, reciprocal,
    sin, cos, clipByValue,
    sum, mean, min, max, prod, argMax, argMin, moments,
    reshape, expandDims, squeeze, transpose, slice, concat, stack, unstack, gather, tile, reverse, oneHot, matMul, dot,
    concat1d: l => concat(l, 0), concat2d: (l, axis) => concat(l, axis),
    tidy, dispose, keep,
    memory: () => ({ numTensors: live, numDataBuffers: live, numBytes: 0, unreliable: false }),
    ready: () => Promise.resolve(),
    getBackend: () => 'cpu',
    setBackend: () => Promise.resolve(true),
    enableProdMode: () => {},
    nextFrame: () => new Promise(resolve => g.setTimeout(resolve, 0)),
    util: {
      shuffle: arr => { for (let i = arr.length - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); [arr[i], arr[j]] = [arr[j], arr[i]]; } },
      sizeFromShape: sizeOf,
    },
    sequential: args => new Sequential(args),
    Sequential,
    layers,
    initializers,
    train,
    losses,
    loadLayersModel,
    loadModel: loadLayersModel,
  };
})
