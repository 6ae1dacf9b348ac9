//! The Layers API and tensor ops as scripts see them: results, tfjs's error messages for
//! bad input, `fit` off the JS thread, save/load.

use super::{run_source, RunOptions};

/// Runs `code` headless; returns the console lines and the uncaught errors' texts.
fn run(code: &str) -> (Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = RunOptions::new(dir.path().join("bundled"));
    opts.models.cache_dir = dir.path().join("cache");
    opts.models.allow_network = false;
    opts.print = false;
    let code =
        format!("importScripts('https://cdn.jsdelivr.net/npm/@tensorflow/tfjs');\n___\n{code}");
    let r = run_source(&code, dir.path(), opts).unwrap();
    (
        r.console.iter().map(|l| l.text.clone()).collect(),
        r.errors.iter().map(|e| e.to_string()).collect(),
    )
}

#[test]
fn tensor_ops_follow_tfjs() {
    let (lines, errors) = run(
        "const a = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);\n\
         console.log(a.sum().dataSync()[0], a.mean(0).arraySync(), a.max(1).arraySync(), a.min().dataSync()[0]);\n\
         console.log(a.argMax(1).arraySync(), a.argMax().arraySync(), a.argMax(1).dtype);\n\
         console.log(a.add(tf.tensor1d([10, 20, 30])).arraySync(), a.square().sum(1, true).arraySync());\n\
         console.log(tf.concat([a, a], 1).shape, tf.concat([a, a]).shape, a.slice([0, 1], [2, 2]).arraySync());\n\
         console.log(tf.oneHot(tf.tensor1d([0, 2], 'int32'), 3).arraySync(), a.transpose().shape, a.matMul(a.transpose()).arraySync());\n\
         const before = tf.memory().numTensors;\n\
         const kept = tf.tidy(() => { a.mul(2); a.sub(1); return a.add(1); });\n\
         console.log(tf.memory().numTensors - before, kept.arraySync()[0], tf.getBackend());\n\
         try { a.add(tf.tensor1d([1, 2])); } catch (e) { console.log(e.message); }\n\
         try { tf.tensor2d([1, 2, 3]); } catch (e) { console.log(e.message); }\n\
         const d = tf.scalar(1); d.dispose();\n\
         try { d.dataSync(); } catch (e) { console.log(e.message); }\n",
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        lines,
        [
            "21 [2.5, 3.5, 4.5] [3, 6] 1",
            "[2, 2] [1, 1, 1] int32",
            "[[11, 22, 33], [14, 25, 36]] [[14], [77]]",
            "[2, 6] [4, 3] [[2, 3], [5, 6]]",
            "[[1, 0, 0], [0, 0, 1]] [3, 2] [[14, 32], [32, 77]]",
            "1 [2, 3, 4] cpu",
            "tf.add: Operands could not be broadcast together with shapes [2,3] and [2].",
            "tensor2d: tensor2d() requires values of rank 2 (or a shape of 2 dimensions), got shape [3]",
            "Tensor is disposed.",
        ]
    );
}

#[test]
fn bad_input_gives_clear_errors() {
    let (lines, errors) = run(
        "const m = tf.sequential();\n\
         const tryIt = (what, f) => { try { f(); console.log(what, 'ok'); } catch (e) { console.log(what, e.message); } };\n\
         tryIt('no input shape', () => m.add(tf.layers.dense({units: 4})));\n\
         tryIt('activation', () => m.add(tf.layers.dense({units: 4, inputShape: [2], activation: 'rellu'})));\n\
         m.add(tf.layers.dense({units: 4, inputShape: [2], name: 'hidden'}));\n\
         m.add(tf.layers.dense({units: 3, name: 'out', activation: 'softmax'}));\n\
         tryIt('loss', () => m.compile({loss: 'meanSquareError', optimizer: 'adam'}));\n\
         tryIt('optimizer', () => m.compile({loss: 'meanSquaredError', optimizer: 'adamw'}));\n\
         tryIt('predict shape', () => m.predict(tf.tensor2d([[1, 2, 3]])));\n\
         tryIt('predict rank', () => m.predict(tf.tensor1d([1, 2])));\n\
         tryIt('too big', () => m.add(tf.layers.dense({units: 13000000})));\n\
         const x = tf.tensor2d([[0, 1], [1, 0]]), y = tf.tensor2d([[1, 0, 0], [0, 1, 0]]);\n\
         m.fit(x, y).catch(e => console.log('fit before compile', e.message));\n\
         m.compile({loss: 'categoricalCrossentropy', optimizer: tf.train.sgd(0.1)});\n\
         m.fit(x, tf.tensor2d([[1, 0], [0, 1]])).catch(e => console.log('target', e.message));\n\
         m.fit(x, y, {epochs: 200});\n\
         m.fit(x, y).catch(e => console.log('second fit', e.message));\n\
         const n = tf.sequential({layers: [tf.layers.dense({units: 1, inputShape: [1]})]});\n\
         n.compile({loss: 'meanSquaredError', optimizer: tf.train.sgd(1e20)});\n\
         n.fit(tf.tensor2d([[1], [2]]), tf.tensor2d([[1], [2]]), {epochs: 10}).catch(e => console.log('nan', e.message));\n",
    );
    assert!(errors.is_empty(), "{errors:?}");
    let find = |what: &str| -> &str {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(what).map(str::trim))
            .unwrap_or_else(|| panic!("no line for {what}: {lines:?}"))
    };
    assert!(
        find("no input shape").contains("dense_Dense1")
            && find("no input shape").contains("inputShape")
    );
    assert!(find("activation").contains("unknown activation 'rellu'"), "{}", find("activation"));
    assert!(find("loss").contains("Unknown loss 'meanSquareError'"), "{}", find("loss"));
    assert!(find("optimizer").contains("Unknown Optimizer 'adamw'"), "{}", find("optimizer"));
    assert!(
        find("predict shape").contains("hidden_input to have shape [null,2]")
            && find("predict shape").contains("[1,3]")
    );
    assert!(find("predict rank").contains("2 dimension(s)"), "{}", find("predict rank"));
    assert!(find("too big").contains("more than the limit of 50000000"), "{}", find("too big"));
    assert!(
        find("fit before compile").contains("must be compiled"),
        "{}",
        find("fit before compile")
    );
    assert!(find("target").contains("expected out to have shape [null,3]"), "{}", find("target"));
    assert!(find("second fit").contains("another fit() call is ongoing"), "{}", find("second fit"));
    assert!(find("nan").contains("loss became"), "{}", find("nan"));
}

#[test]
fn fit_callbacks_history_save_and_load() {
    let (lines, errors) = run(
        "var m = tf.sequential();\n\
         m.add(tf.layers.dense({units: 8, inputShape: [2], activation: 'tanh'}));\n\
         m.add(tf.layers.dropout({rate: 0.1}));\n\
         m.add(tf.layers.dense({units: 1, activation: 'sigmoid'}));\n\
         m.compile({loss: 'binaryCrossentropy', optimizer: tf.train.adam(0.05), metrics: ['accuracy']});\n\
         var x = tf.tensor2d([[0, 0], [0, 1], [1, 0], [1, 1], [0, 0], [1, 1]]);\n\
         var y = tf.tensor2d([[0], [1], [1], [1], [0], [1]]);\n\
         var events = [];\n\
         var returned = false;\n\
         var p = m.fit(x, y, {epochs: 30, batchSize: 4, validationSplit: 1 / 3, callbacks: {\n\
           onTrainBegin: () => events.push('begin'), onEpochEnd: (e, l) => { if (e === 29) events.push('acc' + (l.acc !== undefined) + (l.val_loss !== undefined)); },\n\
           onBatchEnd: (b, l) => { if (b === 0 && l.size === 4) events.push('b'); }, onTrainEnd: () => events.push('end') }});\n\
         returned = true;\n\
         console.log('fit returned at once', returned && events.length === 0, p instanceof Promise);\n\
         p.then(h => { console.log(events[0], events.filter(e => e === 'b').length, events[events.length - 2], events[events.length - 1]);\n\
           console.log(h.epoch.length, h.history.loss.length, h.history.val_loss.length, h.history.loss[29] < h.history.loss[0]);\n\
           return m.save('localstorage://xor'); })\n\
          .then(() => tf.loadLayersModel('localstorage://xor'))\n\
          .then(l => { const a = m.predict(x).dataSync(), b = l.predict(x).dataSync();\n\
            console.log('loaded', l.layers.length, l.countParams(), a.every((v, i) => v === b[i]));\n\
            return tf.loadLayersModel('session://missing'); })\n\
          .catch(e => console.log(e.message));\n",
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert!(lines.contains(&"fit returned at once true true".to_string()), "{lines:?}");
    assert!(lines.contains(&"begin 30 acctruetrue end".to_string()), "{lines:?}");
    assert!(lines.contains(&"30 30 30 true".to_string()), "{lines:?}");
    assert!(lines.contains(&"loaded 3 33 true".to_string()), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("no model saved as 'missing'")), "{lines:?}");
}
