//EXECUTE THESE SCRIPTS TO IMPORT TENSOR FLOW AND MAGENTA LIBRARIES

importScripts("https://cdn.jsdelivr.net/npm/@tensorflow/tfjs@1.4.0/dist/tf.min.js");
importScripts("https://cdn.jsdelivr.net/npm/@magenta/music@^1.12.0/es6/core.js");
importScripts("https://cdn.jsdelivr.net/npm/@magenta/music@^1.12.0/es6/music_rnn.js");
___

// CREATE A CHANNEL TO THE AUDIO ENGINE
var channel0 = createOutputChannel(1, 12);

// MIDI TO FREQUENCY AUXILIARY FUNCTIONS
var mtof = m => Math.pow(2, (m - 69) / 12) * 440;

var ftom = f => Math.round(12*Math.log2(f/440) + 69);
___

// DEFINE A NOTE SEQUENCE E.G. "Piano Phase" Steve Reich
var noteSeq = {
  notes: [
    {pitch: 73, startTime: 0.0, endTime: 0.5},
    {pitch: 75, startTime: 0.5, endTime: 1.0},
    {pitch: 80, startTime: 1.0, endTime: 1.5},
    {pitch: 82, startTime: 1.5, endTime: 2.0},
    {pitch: 83, startTime: 2.0, endTime: 2.5},
    {pitch: 75, startTime: 2.5, endTime: 3.0},
    {pitch: 73, startTime: 3.0, endTime: 4.0},
    {pitch: 82, startTime: 4.0, endTime: 4.5},
    {pitch: 80, startTime: 4.5, endTime: 5.0},
    {pitch: 75, startTime: 5.0, endTime: 5.5},
    {pitch: 83, startTime: 5.5, endTime: 6.0},
    {pitch: 82, startTime: 6.0, endTime: 6.5}
  ],
  totalTime: 12
};

// FETCH AND INITIALIZE A MAGENTA PRE-TRAINED RNN MODEL
var music_rnn = new music_rnn.MusicRNN('https://storage.googleapis.com/magentadata/js/checkpoints/music_rnn/basic_rnn')

music_rnn.initialize()
___

// SEND ORIGINAL NOTE SEQUENCE TO PLAY IN THE ENGINE
const orignalNotes = noteSeq.notes.map(d => mtof(d.pitch))
console.log(orignalNotes);
channel0.send(orignalNotes);
___


// RNN CONTINUES SEQUENCE IN THE STYLE OF ORIGINAL NOTE SEQUENCE
(() => {

	//quantize note sequence (stepsPerQuarter 4)
	const qns = core.sequences.quantizeNoteSequence(noteSeq, 4)
	//length of response for continuation of the melody.
	let rnnSteps = 12;
	//distance to original melody
	//temperature directly proportional to randomness
	let rnnTemperature = 1000

	music_rnn
	.continueSequence(qns, rnnSteps, rnnTemperature)
	.then( sample => {
		const notes = sample.notes.map(d => mtof(d.pitch));
		channel0.send(notes);
		console.log(notes);
	});
})();
___
