importScripts("https://cdn.jsdelivr.net/npm/@magenta/music@^1.12.0/es6/core.js");
importScripts("https://cdn.jsdelivr.net/npm/@magenta/music@^1.12.0/es6/music_rnn.js");
___

var rnn = new music_rnn.MusicRNN('https://storage.googleapis.com/magentadata/js/checkpoints/music_rnn/basic_rnn');
rnn.initialize();
___

// Listen: each call is 2 bars from its first note, the answer plays from the bar line
// after it. Options (defaults in brackets):
//   bars        bars per call [2]; 0 ends a call by silence instead
//   silence     with bars: 0, beats with no key held that end the call [2]
//   answerBars  bars of answer [as long as the call]
//   temperature [the plugin's temperature parameter]
//   channel     MIDI channel of the answer, 0-15 [0]; velocity 0-1 [0.8]
//   lookahead   beats before the bar line to start generating, until it has timed
//               the model (then 1.5 x the slowest recent generation, at least a 16th) [1]
//   range       [min, max] pitches your call is folded into by octaves [[48, 83]]
host.callAndResponse({
  model: rnn,
  bars: 2,
  onAnswer: (seq, info) => console.log("answer from bar " + info.bar + ": " +
    seq.notes.map(n => n.pitch).join(" ") + (info.late ? " (late)" : ""))
});
___

// See what you play.
host.onNote(n => { if (n.on && n.source == "host") console.log("you: " + n.pitch + " at bar " + n.bar + ", beat " + n.beat.toFixed(2)); });
___
