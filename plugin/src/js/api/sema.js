// Sema's JS globals. Called once per context with (globalThis, natives, modules).
(function (g, N, M) {
  'use strict';

  // Formats a value the way a browser console roughly does.
  function fmt(v, depth, seen) {
    switch (typeof v) {
      case 'string': return depth === 0 ? v : "'" + v + "'";
      case 'number': return Object.is(v, -0) ? '0' : String(v);
      case 'bigint': return String(v) + 'n';
      case 'undefined': return 'undefined';
      case 'boolean': return String(v);
      case 'symbol': return v.toString();
      case 'function': return '[Function: ' + (v.name || 'anonymous') + ']';
    }
    if (v === null) return 'null';
    if (seen.indexOf(v) >= 0) return '[Circular]';
    if (v instanceof Error) return (v.name || 'Error') + ': ' + v.message;
    if (v instanceof Promise) return 'Promise {}';
    if (typeof v.__semaFormat === 'function') return v.__semaFormat();
    if (depth > 3) return Array.isArray(v) ? '[Array]' : '[Object]';
    seen = seen.concat([v]);
    const MAX = 100;
    if (Array.isArray(v) || ArrayBuffer.isView(v)) {
      const n = v.length;
      const items = [];
      for (let i = 0; i < Math.min(n, MAX); i++) items.push(fmt(v[i], depth + 1, seen));
      if (n > MAX) items.push('... ' + (n - MAX) + ' more');
      const prefix = Array.isArray(v) ? '' : v.constructor.name + '(' + n + ') ';
      return prefix + '[' + items.join(', ') + ']';
    }
    if (v instanceof Map) {
      const items = [];
      v.forEach((val, key) => items.push(fmt(key, depth + 1, seen) + ' => ' + fmt(val, depth + 1, seen)));
      return 'Map(' + v.size + ') {' + items.join(', ') + '}';
    }
    if (v instanceof Set) {
      const items = [];
      v.forEach(val => items.push(fmt(val, depth + 1, seen)));
      return 'Set(' + v.size + ') {' + items.join(', ') + '}';
    }
    const keys = Object.keys(v);
    const items = keys.slice(0, MAX).map(k => k + ': ' + fmt(v[k], depth + 1, seen));
    if (keys.length > MAX) items.push('... ' + (keys.length - MAX) + ' more');
    const name = v.constructor && v.constructor !== Object && v.constructor.name ? v.constructor.name + ' ' : '';
    return name + '{' + items.join(', ') + '}';
  }
  const show = args => args.map(a => fmt(a, 0, [])).join(' ');

  const console = {
    log: (...a) => N.log(0, show(a)),
    debug: (...a) => N.log(0, show(a)),
    info: (...a) => N.log(1, show(a)),
    warn: (...a) => N.log(2, show(a)),
    error: (...a) => N.log(3, show(a)),
    table: (...a) => N.log(0, show(a)),
    assert: (cond, ...a) => { if (!cond) N.log(3, 'Assertion failed' + (a.length ? ': ' + show(a) : '')); },
  };
  g.console = console;

  // Sema's output channel: `send` zero-pads or truncates to the block size.
  class OutputChannel {
    constructor(id, blockSize) {
      N.checkChannel(id, blockSize);
      this.id = id;
      this.blocksize = blockSize;
    }
    get blockSize() { return this.blocksize; }
    send(value) { N.channelSend(this.id, this.blocksize, value); }
  }
  g.createOutputChannel = (id, blockSize) => new OutputChannel(id, blockSize);

  // Users replace `input` to receive the DSL's toJS values.
  g.input = (value, channel) => {};
  g.output = (value, channel) => N.output(value, channel);

  g.importScripts = (...urls) => {
    for (const url of urls) {
      const name = N.importScript(String(url));
      if (!name) continue;
      const mod = M[name];
      if (mod === undefined) throw new Error('importScripts: built-in module ' + name + ' is missing');
      g[name] = mod;
      // Any @magenta/music script also provides the whole bundle as `mm`.
      if (name !== 'tf') g.mm = M.mm;
    }
  };

  g.setTimeout = (fn, ms, ...args) => N.setTimer(fn, ms, false, args);
  g.setInterval = (fn, ms, ...args) => N.setTimer(fn, ms, true, args);
  g.clearTimeout = id => N.clearTimer(id);
  g.clearInterval = id => N.clearTimer(id);

  g.queueMicrotask = fn => { Promise.resolve().then(fn); };
  const t0 = Date.now();
  g.performance = { now: () => Date.now() - t0 };

  g.sema = {
    sendBuffer: (name, data) => N.sendBuffer(name, data),
  };

  // Guards against single huge allocations that would take the whole host process down
  // before any loop limit triggers (typed arrays are capped by the runtime's hooks).
  const MAX_LEN = 1 << 26;
  const tooBig = what => new RangeError(what + ': result larger than ' + MAX_LEN + ' elements (memory guard)');
  const guard = (proto, name, check) => {
    const orig = proto[name];
    Object.defineProperty(proto, name, {
      value: { [name](...args) { check(this, args); return orig.apply(this, args); } }[name],
      writable: true, configurable: true, enumerable: false,
    });
  };
  guard(String.prototype, 'repeat', (s, [n]) => { if (String(s).length * Number(n) > MAX_LEN) throw tooBig('repeat'); });
  guard(String.prototype, 'padStart', (s, [n]) => { if (Number(n) > MAX_LEN) throw tooBig('padStart'); });
  guard(String.prototype, 'padEnd', (s, [n]) => { if (Number(n) > MAX_LEN) throw tooBig('padEnd'); });
  guard(Array.prototype, 'fill', a => { if (a.length > MAX_LEN) throw tooBig('fill'); });
  const checkLength = args => {
    if (args.length === 1 && typeof args[0] === 'number' && args[0] > MAX_LEN) throw tooBig('Array');
  };
  g.Array = new Proxy(Array, {
    construct(target, args, newTarget) { checkLength(args); return Reflect.construct(target, args, newTarget); },
    apply(target, self, args) { checkLength(args); return Reflect.apply(target, self, args); },
  });
})
