// The Layers API parity cases, run unchanged by the real TensorFlow.js in Node
// (layers.mjs) and by Sema Live's JS runtime (tests/layers_parity.rs). The caller defines
// `JOB` (the cases: layers, loss, optimizer, initial weights, data) and `report(result)`.
// Each case builds a sequential model, sets its weights, trains without shuffling and
// reports every epoch's logs, every batch's loss, the final predictions and evaluate().

function makeOptimizer(o) {
  switch (o.name) {
    case 'adam': return tf.train.adam(o.lr);
    case 'sgd': return tf.train.sgd(o.lr);
    case 'rmsprop': return tf.train.rmsprop(o.lr, o.decay, o.momentum);
    case 'adagrad': return tf.train.adagrad(o.lr);
    default: return o.name;
  }
}

async function runCase(c) {
  const model = tf.sequential();
  c.layers.forEach((l, i) => {
    const cfg = { units: l.units, activation: l.activation };
    if (i === 0) cfg.inputShape = [c.x.cols];
    model.add(tf.layers.dense(cfg));
  });
  model.compile({ loss: c.loss, optimizer: makeOptimizer(c.optimizer), metrics: c.metrics });
  model.setWeights(c.weights.map(w => tf.tensor(w.data, w.shape)));
  const x = tf.tensor2d(c.x.data, [c.x.rows, c.x.cols]);
  const y = tf.tensor2d(c.y.data, [c.y.rows, c.y.cols]);
  const batchLosses = [];
  const h = await model.fit(x, y, {
    epochs: c.epochs,
    batchSize: c.batchSize,
    shuffle: false,
    validationSplit: c.validationSplit,
    callbacks: { onBatchEnd: (batch, logs) => { batchLosses.push(logs.loss); } },
  });
  const pred = Array.from(model.predict(x).dataSync());
  const ev = model.evaluate(x, y, { batchSize: c.batchSize });
  const evaluate = (Array.isArray(ev) ? ev : [ev]).map(t => t.dataSync()[0]);
  return { name: c.name, history: h.history, epoch: h.epoch, batchLosses, pred, evaluate, params: model.countParams() };
}

(async () => {
  const out = [];
  for (const c of JOB.cases) out.push(await runCase(c));
  report(out);
})();
