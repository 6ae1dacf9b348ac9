importScripts("https://cdn.jsdelivr.net/npm/@magenta/music@^1.12.0/es6/core.js");
importScripts("https://cdn.jsdelivr.net/npm/@magenta/music@^1.12.0/es6/music_rnn.js");
___

var channel = createOutputChannel(1, 16);
var mtof = m => Math.pow(2, (m - 69) / 12) * 440;
var primer = {
  notes: [
    {pitch: 60, startTime: 0.0, endTime: 0.5},
    {pitch: 64, startTime: 0.5, endTime: 1.0},
    {pitch: 67, startTime: 1.0, endTime: 1.5},
    {pitch: 72, startTime: 1.5, endTime: 2.0}
  ],
  totalTime: 2
};
var rnn = new music_rnn.MusicRNN('https://storage.googleapis.com/magentadata/js/checkpoints/music_rnn/basic_rnn');
___

// Regenerate 16 steps at every bar. No temperature argument: the model uses the
// plugin's `temperature` parameter, so automating it in the DAW changes what you hear
// (low = repetitive, high = adventurous).
function regenerate() {
  const q = core.sequences.quantizeNoteSequence(primer, 4);
  return rnn.continueSequence(q, 16).then(s => {
    channel.send(s.notes.map(n => mtof(n.pitch)));
    console.log("bar " + host.bar + ", temperature " + host.temperature.toFixed(2) + ": " + s.notes.map(n => n.pitch).join(" "));
  });
}
rnn.initialize().then(regenerate);
host.onBar(bar => regenerate());
___
