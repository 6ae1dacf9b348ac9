importScripts("https://cdn.jsdelivr.net/npm/@tensorflow/tfjs@1.4.0/dist/tf.min.js");
importScripts("https://cdn.jsdelivr.net/npm/@magenta/music@^1.12.0/es6/core.js");
importScripts("https://cdn.jsdelivr.net/npm/@magenta/music@^1.12.0/es6/music_vae.js");
___

var mvae = new music_vae.MusicVAE('https://storage.googleapis.com/magentadata/js/checkpoints/music_vae/mel_2bar_small');
mvae.initialize().then(() => console.log("model-loaded"));

// Your phrases: every other bar, the two bars before it (when you played in them).
var phrases = [];
host.onBar(bar => {
  if (bar < 2 || bar % 2 != 0) return;
  const phrase = host.phrase(2);
  if (phrase.notes.length < 3) return;
  phrases.push(phrase);
  if (phrases.length > 32) phrases.shift();
  console.log("phrase " + phrases.length + " kept: " + phrase.notes.map(n => n.pitch).join(" "));
});
___

var	midime;

midime = new mm.MidiMe({ epochs: 100 });
midime.initialize();
___

// Train MidiMe on your phrases and play a melody sampled in your style (evaluate again
// after playing more).
async function learnAndPlay() {
  if (phrases.length == 0) {
    console.log("play a few 2-bar phrases first, then evaluate this block again");
    return;
  }
  const z = await mvae.encode(phrases);
  await midime.train(z);
  const sample = await mvae.decode(await midime.sample(1));
  host.play(sample[0], {loop: true});
  console.log("trained on " + phrases.length + " phrases; playing: " + sample[0].notes.map(n => n.pitch).join(" "));
}
learnAndPlay();
___
