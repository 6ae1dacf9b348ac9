// magenta.js equivalents over the model worker. Registers M.core, M.music_rnn,
// M.music_vae, M.midi_me and M.mm.
(function (g, N, M) {
  'use strict';
  const tf = M.tf;
  // No temperature argument: the worker uses the host's `temperature` parameter.
  const temp = t => (t === undefined || t === null ? null : Number(t));
  const hidden = (obj, key, value) =>
    Object.defineProperty(obj, key, { value, writable: true, configurable: true, enumerable: false });

  function checkSeq(s, what) {
    if (!s || typeof s !== 'object' || !Array.isArray(s.notes)) {
      throw new TypeError(what + ': expected a NoteSequence ({notes: [...]})');
    }
    return s;
  }
  function checkSeqs(list, what) {
    if (!Array.isArray(list) || list.length === 0) throw new TypeError(what + ': expected an array of NoteSequences');
    list.forEach(s => checkSeq(s, what));
    return list;
  }
  // Latent vectors from a tensor or (nested) array, one row per sequence.
  function zRows(z, zDims, what) {
    let rows = z instanceof tf.Tensor ? z.arraySync() : z;
    if (!Array.isArray(rows) || rows.length === 0) throw new TypeError(what + ': z must be a tensor or array of latent vectors');
    if (!Array.isArray(rows[0])) rows = [rows];
    rows.forEach(r => {
      if (zDims && r.length !== zDims) throw new Error(what + ': z has ' + r.length + ' dimensions, the model needs ' + zDims);
    });
    return rows;
  }

  // Loaded checkpoints by kind and URL, shared by all model objects that name them:
  // re-evaluating `var m = new MusicRNN(url)` (live coding) reuses the loaded weights
  // instead of loading another copy. The models keep no state between calls.
  const loaded = new Map();

  // Shared loading logic: one load per checkpoint, retried after a failure.
  class Model {
    constructor(checkpointURL, spec, kind, label) {
      this.checkpointURL = checkpointURL;
      this.spec = spec;
      this.initialized = false;
      hidden(this, '_kind', kind);
      hidden(this, '_label', label);
      hidden(this, '_model', null);
      hidden(this, '_loading', null);
    }
    isInitialized() { return this.initialized; }
    initialize() {
      if (!this._loading) {
        if (typeof this.checkpointURL !== 'string' || !this.checkpointURL) {
          return Promise.reject(new TypeError(this._label + ': needs a checkpoint URL or folder'));
        }
        const key = this._kind + ' ' + this.checkpointURL;
        let entry = loaded.get(key);
        if (!entry) {
          entry = { refs: 0, load: N.ml(this._kind, { url: this.checkpointURL }) };
          loaded.set(key, entry);
          // A failed load is forgotten so that the next initialize() tries again.
          entry.load.then(null, () => { if (loaded.get(key) === entry) loaded.delete(key); });
          entry.load.then(r => console.info(this._label + ' initialized (' + r.description + ')'), () => {});
        }
        entry.refs++;
        hidden(this, '_key', key);
        this._loading = entry.load.then(
          r => {
            this._model = r.model;
            this.initialized = true;
            this._loaded(r);
          },
          e => { this._loading = null; entry.refs--; throw e; });
      }
      return this._loading;
    }
    _loaded(r) {}
    dispose() {
      const entry = this._key && loaded.get(this._key);
      if (entry && this._loading && --entry.refs <= 0) {
        loaded.delete(this._key);
        if (this._model !== null) N.ml('Unload', { model: this._model }).catch(() => {});
      }
      this._model = null;
      this._loading = null;
      this.initialized = false;
    }
  }

  class MusicRNN extends Model {
    constructor(checkpointURL, spec) { super(checkpointURL, spec, 'LoadRnn', 'MusicRNN'); }
    async continueSequence(sequence, steps, temperature, chordProgression) {
      checkSeq(sequence, 'continueSequence');
      const args = { model: null, seq: sequence, steps: steps, temperature: temp(temperature), count: 1 };
      // Chord-conditioned models (chord_pitches_improv): chord symbols such as ["C", "G7"].
      if (chordProgression !== undefined && chordProgression !== null) {
        if (!Array.isArray(chordProgression) || chordProgression.length === 0 ||
            chordProgression.some(c => typeof c !== 'string')) {
          throw new TypeError('continueSequence: chordProgression must be a non-empty array of chord symbols such as ["C", "G7"]');
        }
        args.chords = chordProgression;
      }
      await this.initialize();
      args.model = this._model;
      const out = await N.ml(args.chords ? 'RnnContinueChords' : 'RnnContinue', args);
      return out[0];
    }
  }

  class MusicVAE extends Model {
    constructor(checkpointURL, spec) { super(checkpointURL, spec, 'LoadVae', 'MusicVAE'); }
    _loaded(r) {
      this.decoder = { zDims: r.zDims };
      this.encoder = { zDims: r.zDims };
      this.zDims = r.zDims;
    }
    async encode(inputSequences, controlArgs) {
      checkSeqs(inputSequences, 'MusicVAE.encode');
      await this.initialize();
      const z = await N.ml('VaeEncode', { model: this._model, seqs: inputSequences });
      const t = tf.tensor2d(z);
      // MidiMe.train needs the melodies behind these vectors.
      hidden(t, '_semaSource', { vae: this._model, seqs: inputSequences });
      return t;
    }
    async decode(z, temperature, controlArgs, stepsPerQuarter, qpm) {
      await this.initialize();
      if (z && z._semaSequences) {
        if (z._semaVae !== this._model) throw new Error('MusicVAE.decode: this MidiMe sample belongs to another MusicVAE');
        return z._semaSequences.map(s => JSON.parse(JSON.stringify(s)));
      }
      const rows = zRows(z, this.zDims, 'MusicVAE.decode');
      return N.ml('VaeDecode', { model: this._model, z: rows, temperature: temp(temperature) });
    }
    async sample(numSamples, temperature) {
      await this.initialize();
      return N.ml('VaeSample', { model: this._model, n: numSamples, temperature: temp(temperature) });
    }
    async interpolate(inputSequences, numInterps, temperature) {
      checkSeqs(inputSequences, 'MusicVAE.interpolate');
      await this.initialize();
      return N.ml('VaeInterpolate',
        { model: this._model, seqs: inputSequences, n: numInterps, temperature: temp(temperature) });
    }
  }

  // A MidiMe model: a small latent model trained on the MusicVAE vectors of the user's
  // melodies (train with the tensor MusicVAE.encode returned).
  class MidiMe {
    constructor(config) {
      const c = config || {};
      this.config = { epochs: c.epochs === undefined ? 10 : c.epochs, latent_size: c.latent_size === undefined ? 4 : c.latent_size };
      this.initialized = false;
      this.trained = false;
      hidden(this, '_model', null);
      hidden(this, '_vae', null);
    }
    initialize() { this.initialized = true; return Promise.resolve(); }
    isInitialized() { return this.initialized; }
    async train(data, callback) {
      const src = data && data._semaSource;
      if (!src) throw new Error('MidiMe.train: pass the tensor returned by MusicVAE.encode(...)');
      const r = await N.ml('MidiMeTrain',
        { vae: src.vae, seqs: src.seqs, epochs: this.config.epochs, latent: this.config.latent_size });
      this._model = r.model;
      this._vae = src.vae;
      this.trained = true;
      if (typeof callback === 'function') callback(this.config.epochs - 1, {});
    }
    async sample(numSamples, temperature) {
      if (!this.trained) throw new Error('MidiMe.sample: train the model first');
      const out = await N.ml('MidiMeSample',
        { midime: this._model, vae: this._vae, n: numSamples === undefined ? 1 : numSamples, temperature: temp(temperature) });
      if (out.length > 0 && Array.isArray(out[0])) return tf.tensor2d(out);
      // The worker decoded already: the tensor carries the melodies for MusicVAE.decode.
      const t = tf.zeros([out.length, 0]);
      hidden(t, '_semaSequences', out);
      hidden(t, '_semaVae', this._vae);
      return t;
    }
    dispose() {
      if (this._model !== null) N.ml('Unload', { model: this._model }).catch(() => {});
      this._model = null;
      this.trained = false;
    }
  }

  // `var music_rnn = new music_rnn.MusicRNN(...)` (as in the seed) replaces the module
  // global with the instance; the class stays reachable from the instance so that the
  // same line can be evaluated again.
  hidden(MusicRNN.prototype, 'MusicRNN', MusicRNN);
  hidden(MusicVAE.prototype, 'MusicVAE', MusicVAE);
  hidden(MidiMe.prototype, 'MidiMe', MidiMe);

  const clone = ns => JSON.parse(JSON.stringify(ns));
  const sequences = {
    quantizeNoteSequence: (ns, stepsPerQuarter) => N.quantize(ns, stepsPerQuarter),
    isQuantizedSequence: ns => !!(ns && ns.quantizationInfo && ns.quantizationInfo.stepsPerQuarter > 0),
    clone,
    unquantizeSequence(qns, qpm) {
      checkSeq(qns, 'unquantizeSequence');
      const spq = qns.quantizationInfo && qns.quantizationInfo.stepsPerQuarter;
      if (!(spq > 0)) throw new Error('unquantizeSequence: the sequence is not quantized');
      const tempo = qpm || (qns.tempos && qns.tempos[0] && qns.tempos[0].qpm) || 120;
      const secondsPerStep = 60 / tempo / spq;
      const ns = clone(qns);
      ns.notes.forEach(n => {
        n.startTime = (n.quantizedStartStep || 0) * secondsPerStep;
        n.endTime = (n.quantizedEndStep || 0) * secondsPerStep;
        delete n.quantizedStartStep;
        delete n.quantizedEndStep;
      });
      ns.totalTime = (qns.totalQuantizedSteps || 0) * secondsPerStep;
      delete ns.totalQuantizedSteps;
      delete ns.quantizationInfo;
      ns.tempos = [{ time: 0, qpm: tempo }];
      return ns;
    },
  };

  // host.studio: Magenta Studio's jobs from live code (see API.md). Each job makes its
  // variations as one batch; results are NoteSequences ready for host.play (quantized,
  // except Drumify's and Groove's drum performances, timed at the host's tempo).
  const RNN_URL = 'https://storage.googleapis.com/magentadata/js/checkpoints/music_rnn/basic_rnn';
  const VAE_URL = 'https://storage.googleapis.com/magentadata/js/checkpoints/music_vae/mel_2bar_small';
  const DRUMS_URL = 'https://storage.googleapis.com/magentadata/js/checkpoints/music_rnn/drum_kit_rnn';
  const DRUMIFY_URL = 'https://storage.googleapis.com/magentadata/js/checkpoints/groovae/tap2drum_2bar';
  const GROOVE_URL = 'https://storage.googleapis.com/magentadata/js/checkpoints/music_vae/groovae_2bar_humanize';
  let rnn = null;
  let vae = null;
  let drums = null;
  let drumify = null;
  let groove = null;
  function options(opts, what) {
    if (opts === undefined || opts === null) return {};
    if (typeof opts !== 'object') throw new TypeError('host.studio.' + what + ': the options must be an object');
    return opts;
  }
  function model(o, kind, what) {
    if (o.model !== undefined) {
      const rnnKind = kind === 'rnn' || kind === 'drums';
      const ok = rnnKind ? typeof o.model.continueSequence === 'function' : typeof o.model.encode === 'function';
      if (!ok) throw new TypeError('host.studio.' + what + ': options.model must be a ' + (rnnKind ? 'MusicRNN' : 'MusicVAE'));
      return o.model;
    }
    if (kind === 'rnn') return rnn || (rnn = new MusicRNN(RNN_URL));
    if (kind === 'drums') return drums || (drums = new MusicRNN(DRUMS_URL));
    if (kind === 'drumify') return drumify || (drumify = new MusicVAE(DRUMIFY_URL));
    if (kind === 'groove') return groove || (groove = new MusicVAE(GROOVE_URL));
    return vae || (vae = new MusicVAE(VAE_URL));
  }
  // key: undefined → the host's key/scale parameters; null/false/'off' → none; 'D minor'.
  function key(o) {
    if (o.key === undefined) return 'host';
    if (o.key === null || o.key === false || o.key === 'off') return 'off';
    return String(o.key);
  }
  function common(o, m) {
    return {
      model: m._model,
      temperature: o.temperature === undefined || o.temperature === null ? null : Number(o.temperature),
      variations: o.variations === undefined ? 4 : o.variations,
      key: key(o),
      seed: o.seed === undefined ? null : o.seed,
    };
  }
  // Continue and Drums: a model continues an input (by default the last bars played).
  async function continuation(opts, job, family) {
    const o = options(opts, job);
    const m = model(o, family, job);
    await m.initialize();
    const input = o.input !== undefined ? o.input : g.host.phrase(o.inputBars === undefined ? 2 : o.inputBars);
    const bars = o.bars === undefined ? 2 : Number(o.bars);
    const a = common(o, m);
    a.job = job;
    a.seq = input;
    a.steps = Math.round(bars * g.host.beatsPerBar * 4);
    return N.ml('Studio', a);
  }
  // Drumify and Groove: a GrooVAE model turns an input (by default the last bars played)
  // into drum performances timed at the host's tempo.
  async function grooveJob(opts, job) {
    const o = options(opts, job);
    const m = model(o, job, job);
    await m.initialize();
    const input = o.input !== undefined ? o.input : g.host.phrase(o.inputBars === undefined ? 2 : o.inputBars);
    const a = common(o, m);
    a.job = job;
    a.seq = input;
    a.qpm = g.host.bpm > 0 ? g.host.bpm : 120;
    return N.ml('Studio', a);
  }
  M.studio = Object.freeze({
    continue(opts) {
      return continuation(opts, 'continue', 'rnn');
    },
    drums(opts) {
      return continuation(opts, 'drums', 'drums');
    },
    drumify(opts) {
      return grooveJob(opts, 'drumify');
    },
    groove(opts) {
      return grooveJob(opts, 'groove');
    },
    keep(seq, name) {
      if (seq === null || typeof seq !== 'object') throw new TypeError('host.studio.keep: expected a NoteSequence');
      return N.studioKeep(seq, name === undefined ? null : name);
    },
    async generate(opts) {
      const o = options(opts, 'generate');
      const m = model(o, 'vae', 'generate');
      await m.initialize();
      const a = common(o, m);
      a.job = 'generate';
      return N.ml('Studio', a);
    },
    async interpolate(from, to, opts) {
      const o = options(opts, 'interpolate');
      const m = model(o, 'vae', 'interpolate');
      await m.initialize();
      const a = common(o, m);
      a.job = 'interpolate';
      a.seqs = [from, to];
      if (o.steps !== undefined) a.variations = o.steps;
      return N.ml('Studio', a);
    },
  });

  M.core = { sequences };
  M.music_rnn = { MusicRNN };
  M.music_vae = { MusicVAE };
  M.midi_me = { MidiMe };
  M.mm = { sequences, MusicRNN, MusicVAE, MidiMe, tf };
})
