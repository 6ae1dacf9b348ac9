//! What a pump delivers to scripts: model results, training progress, `toJS` input,
//! timers, bar callbacks, MIDI input and call-and-response answers.

use super::*;

impl Runtime {
    /// Resolves or rejects the Promises of finished model requests.
    pub(super) fn deliver_model_results(&mut self) {
        loop {
            let (progress, done) = {
                let sh = self.state.borrow();
                match &sh.worker {
                    Some(w) => (w.try_progress(), w.try_recv()),
                    None => return,
                }
            };
            if let Some(p) = &progress {
                let text = match p.fraction {
                    Some(f) => format!("{} ({:.0}%)", p.message, f * 100.0),
                    None => p.message.clone(),
                };
                self.state.borrow_mut().console.push_back(Line::js(Level::Info, text, None, None));
            }
            let Some((id, result)) = done else {
                if progress.is_none() {
                    return;
                }
                continue;
            };
            let pending = self.state.borrow_mut().pending_models.remove(&id);
            let Some(pending) = pending else { continue };
            self.state.borrow_mut().current_block = pending.block;
            self.arm();
            let outcome = match result {
                Ok(resp) => match api::magenta::response_to_js(resp, &mut self.ctx) {
                    Ok(v) => pending.resolve.call(&JsValue::undefined(), &[v], &mut self.ctx),
                    Err(e) => {
                        let v = e.into_opaque(&mut self.ctx).unwrap_or_default();
                        pending.reject.call(&JsValue::undefined(), &[v], &mut self.ctx)
                    }
                },
                Err(msg) => {
                    let err = boa_engine::JsNativeError::error()
                        .with_message(format!("{}: {msg}", pending.what))
                        .into_opaque(&mut self.ctx);
                    pending.reject.call(&JsValue::undefined(), &[err.into()], &mut self.ctx)
                }
            };
            if let Err(e) = outcome {
                self.report_error(&e, "Uncaught");
            }
            self.run_microtasks();
            self.state.borrow_mut().current_block = None;
        }
    }

    /// Calls the `fit` callbacks for what the training thread reported, and settles the
    /// Promises of finished `fit` calls. At most a few hundred events per pump, so a fit
    /// with tiny batches never starves the rest of the loop.
    pub(super) fn deliver_training(&mut self) {
        for _ in 0..512 {
            let report = {
                let sh = self.state.borrow();
                match &sh.trainer {
                    Some(t) => t.try_recv(),
                    None => return,
                }
            };
            let Some((id, report)) = report else { return };
            api::layers::deliver_report(self, id, report);
        }
    }

    /// Calls `f(args)` as a callback of `block`, reporting what it throws.
    pub(crate) fn call_back(
        &mut self,
        f: &JsFunction,
        args: &[JsValue],
        block: Option<usize>,
        what: &str,
    ) {
        self.state.borrow_mut().current_block = block;
        self.arm();
        if let Err(e) = f.call(&JsValue::undefined(), args, &mut self.ctx) {
            self.report_error(&e, what);
        }
        self.run_microtasks();
        self.state.borrow_mut().current_block = None;
    }

    /// The API state (for the API modules' event delivery).
    pub(crate) fn api(&self) -> Rc<RefCell<ApiState>> {
        self.state.clone()
    }

    /// Hands values from `toJS` to the global `input(value, channel)`.
    pub(super) fn deliver_inputs(&mut self) {
        let mut reported = false;
        self.arm();
        for _ in 0..MAX_INPUTS_PER_PUMP {
            let Some(rx) = self.to_js.as_mut() else { break };
            let Some((channel, value)) = self.to_js_lists.next_from(rx) else {
                break;
            };
            let input = self.ctx.global_object().get(js_string!("input"), &mut self.ctx);
            let Some(f) = input.ok().and_then(|v| v.as_callable()) else {
                continue;
            };
            let value: JsValue = match value {
                JsInput::Value(v) => v.into(),
                JsInput::List(values) => {
                    JsArray::from_iter(values.into_iter().map(JsValue::from), &mut self.ctx).into()
                }
            };
            let r = f.call(&JsValue::undefined(), &[value, channel.into()], &mut self.ctx);
            if let Err(e) = r {
                // One report per pump: `input` may be called thousands of times a second.
                if !reported {
                    self.report_error(&e, "Uncaught in input():");
                    reported = true;
                }
            }
        }
    }

    /// Runs due timers in order of their due time.
    pub(super) fn run_timers(&mut self) {
        let now = self.clock().now();
        let mut due: Vec<(Instant, u32)> = self
            .state
            .borrow()
            .timers
            .iter()
            .filter(|t| t.due <= now)
            .map(|t| (t.due, t.id))
            .collect();
        due.sort();
        for (_, id) in due {
            if self.restart_pending.is_some() {
                break;
            }
            // A callback may have cleared this timer meanwhile.
            let call = {
                let mut sh = self.state.borrow_mut();
                let Some(i) = sh.timers.iter().position(|t| t.id == id) else {
                    continue;
                };
                let t = &mut sh.timers[i];
                let call = (t.func.clone(), t.args.clone(), t.block);
                match t.interval {
                    Some(iv) => {
                        // Skip missed periods instead of firing a burst after a stall.
                        t.due += iv;
                        if t.due <= now {
                            t.due = now + iv;
                        }
                    }
                    None => {
                        sh.timers.remove(i);
                    }
                }
                call
            };
            let (func, args, block) = call;
            self.state.borrow_mut().current_block = block;
            self.arm();
            if let Err(e) = func.call(&JsValue::undefined(), &args, &mut self.ctx) {
                self.report_error(&e, "Uncaught");
            }
            self.run_microtasks();
        }
        self.state.borrow_mut().current_block = None;
    }

    /// Calls the `host.onBar` callbacks once per new bar while the host plays.
    pub(super) fn run_bar_callbacks(&mut self) {
        let (playing, bar) = {
            let sh = self.state.borrow();
            (sh.host.playing.load(Ordering::Relaxed), sh.host.bar.load(Ordering::Relaxed))
        };
        if !playing {
            self.last_bar = None;
            return;
        }
        if self.last_bar == Some(bar) {
            return;
        }
        self.last_bar = Some(bar);
        let callbacks: Vec<(JsObject, Option<usize>)> =
            self.state.borrow().bar_callbacks.iter().map(|c| (c.func.clone(), c.block)).collect();
        for (func, block) in callbacks {
            if self.restart_pending.is_some() {
                break;
            }
            self.state.borrow_mut().current_block = block;
            self.arm();
            if let Err(e) =
                func.call(&JsValue::undefined(), &[JsValue::from(bar as f64)], &mut self.ctx)
            {
                self.report_error(&e, "Uncaught in host.onBar callback:");
            }
            self.run_microtasks();
        }
        self.state.borrow_mut().current_block = None;
    }

    /// Hands the MIDI the host played to the phrase recorder, call-and-response and the
    /// `host.onNote` / `host.onCC` callbacks.
    pub(super) fn deliver_midi(&mut self) {
        let mut events: Vec<StampedMidiIn> = Vec::new();
        if let Some(rx) = self.midi_in.as_mut() {
            while events.len() < MAX_MIDI_PER_PUMP {
                match rx.pop() {
                    Ok(e) => events.push(e),
                    Err(_) => break,
                }
            }
        }
        let mut reported = false;
        for e in events {
            let callbacks: Vec<(JsObject, Option<usize>)> = {
                let mut sh = self.state.borrow_mut();
                let (fed, relocated) = {
                    let mut recorder = sh.host.phrases.lock();
                    let relocations = recorder.relocations();
                    let fed = recorder.push(&e);
                    (fed, recorder.relocations() != relocations)
                };
                if let (true, Some(cr)) = (relocated, sh.call_response.as_mut()) {
                    // A loop jump or a locate: listen afresh from the new position.
                    cr.machine.reset();
                }
                if let (Fed::NoteOn(pos), Some(cr)) = (fed, sh.call_response.as_mut()) {
                    if cr.machine.note_on(pos, e.beats_per_bar)
                        == crate::js::call_response::NoteOutcome::Discarded
                    {
                        let block = cr.block;
                        sh.console.push_back(Line::js(
                            Level::Info,
                            "call-and-response: you played on, so the call goes on (the answer being prepared was dropped)",
                            block,
                            None,
                        ));
                    }
                }
                let list = match e.event.kind {
                    MidiInKind::NoteOn | MidiInKind::NoteOff => &sh.note_callbacks,
                    MidiInKind::Cc => &sh.cc_callbacks,
                    _ => continue,
                };
                list.iter().map(|c| (c.func.clone(), c.block)).collect()
            };
            if callbacks.is_empty() {
                continue;
            }
            let Ok(arg) = JsValue::from_json(&midi_event_json(&e), &mut self.ctx) else {
                continue;
            };
            let what = if e.event.kind == MidiInKind::Cc { "host.onCC" } else { "host.onNote" };
            for (func, block) in callbacks {
                self.state.borrow_mut().current_block = block;
                self.arm();
                if let Err(err) =
                    func.call(&JsValue::undefined(), std::slice::from_ref(&arg), &mut self.ctx)
                {
                    // One report per pump: a callback may fail for every note.
                    if !reported {
                        self.report_error(&err, &format!("Uncaught in {what} callback:"));
                        reported = true;
                    }
                }
            }
            self.run_microtasks();
        }
        self.state.borrow_mut().current_block = None;
    }

    /// Drives `host.callAndResponse`: answers that came back are scheduled as clips (and
    /// given to `onAnswer`), and a call whose end is within the lookahead is sent to the
    /// model.
    pub(super) fn run_call_response(&mut self) {
        let (bpm, bpb, now, playing) = {
            let sh = self.state.borrow();
            let h = &sh.host;
            let bpm = h.bpm.load(Ordering::Relaxed);
            let bpb = h.beats_per_bar.load(Ordering::Relaxed);
            (bpm, bpb, h.position(), h.playing.load(Ordering::Relaxed))
        };
        let results = std::mem::take(&mut self.state.borrow_mut().cr_results);
        for (gen, result) in results {
            self.deliver_answer(gen, result, now, bpm, bpb);
        }
        let ask = {
            let mut sh = self.state.borrow_mut();
            let (held, last_release) = {
                let recorder = sh.host.phrases.lock();
                (recorder.held(), recorder.last_release())
            };
            let Some(cr) = sh.call_response.as_mut() else {
                self.cr_last_pos = None;
                return;
            };
            // Stopped, a loop jump or a locate: start listening afresh.
            let jumped = self.cr_last_pos.is_some_and(|last| now < last - 1e-6);
            self.cr_last_pos = playing.then_some(now);
            if !playing || jumped {
                cr.machine.reset();
                return;
            }
            match cr.machine.tick(now, held, last_release, bpm, bpb) {
                None => return,
                Some(g) => {
                    let mut seq =
                        sh.host.phrases.lock().phrase(g.first_bar, g.boundary as f64, bpm, bpb);
                    let Some(cr) = sh.call_response.as_mut() else { return };
                    if seq.notes.is_empty() {
                        cr.machine.reset();
                        return;
                    }
                    fold_into_range(&mut seq, cr.range);
                    cr.asked.insert(g.gen, Instant::now());
                    (g, seq, cr.generate.clone(), cr.block)
                }
            }
        };
        let (g, seq, generate, block) = ask;
        self.state.borrow_mut().current_block = block;
        let value = api::host::sequence_to_js(&seq, &mut self.ctx);
        self.arm();
        let called = value.and_then(|v| {
            generate.call(
                &JsValue::undefined(),
                &[v, JsValue::from(g.steps as i32), JsValue::from(g.gen as f64)],
                &mut self.ctx,
            )
        });
        if let Err(e) = called {
            if let Some(cr) = self.state.borrow_mut().call_response.as_mut() {
                cr.machine.failed(g.gen, Duration::ZERO);
            }
            self.report_error(&e, "Uncaught in host.callAndResponse:");
        }
        self.state.borrow_mut().current_block = None;
    }

    /// Plays one call-and-response answer (or reports why not).
    fn deliver_answer(
        &mut self,
        gen: u64,
        result: Result<NoteSequence, String>,
        now: f64,
        bpm: f64,
        bpb: f64,
    ) {
        let mut sh = self.state.borrow_mut();
        let Some(cr) = sh.call_response.as_mut() else { return };
        let elapsed = cr.asked.remove(&gen).map(|t| t.elapsed()).unwrap_or_default();
        let block = cr.block;
        let seq = match result {
            Ok(seq) => seq,
            Err(msg) => {
                cr.machine.failed(gen, elapsed);
                let text = format!("call-and-response: the model failed: {msg}");
                sh.console.push_back(Line::js(Level::Error, text, block, None));
                return;
            }
        };
        let Some(play) = cr.machine.result(gen, now, elapsed, bpm, bpb) else { return };
        let options = ClipOptions {
            start_bar: play.start_bar,
            channel: cr.channel,
            velocity: Some(cr.velocity),
            looping: false,
            bpm,
            beats_per_bar: bpb,
        };
        let on_answer = cr.on_answer.clone();
        let lookahead = cr.machine.lookahead_beats(bpm);
        let sent = sequence_to_clip(&seq, &options).and_then(|clip| (sh.clip_sink)(clip));
        if let Err(e) = sent {
            let text = format!("call-and-response: the answer was not played: {e}");
            sh.console.push_back(Line::js(Level::Error, text, block, None));
            return;
        }
        if play.late_beats > 0.0 {
            let text = format!(
                "call-and-response: the answer was ready {:.2} beats after the downbeat of bar {} \
                 (generation took {} ms), so it plays from bar {}; the lookahead is now {:.2} beats",
                play.late_beats,
                play.boundary,
                elapsed.as_millis(),
                play.start_bar,
                lookahead
            );
            sh.console.push_back(Line::js(Level::Warn, text, block, None));
        }
        drop(sh);
        let Some(f) = on_answer else { return };
        self.state.borrow_mut().current_block = block;
        let info = serde_json::json!({ "bar": play.start_bar, "late": play.late_beats > 0.0 });
        let args = api::host::sequence_to_js(&seq, &mut self.ctx)
            .and_then(|s| JsValue::from_json(&info, &mut self.ctx).map(|i| [s, i]));
        self.arm();
        let called = args.and_then(|a| f.call(&JsValue::undefined(), &a, &mut self.ctx));
        if let Err(e) = called {
            self.report_error(&e, "Uncaught in host.callAndResponse onAnswer:");
        }
        self.run_microtasks();
        self.state.borrow_mut().current_block = None;
    }
}

/// What `host.onNote` / `host.onCC` callbacks receive for one event.
pub(super) fn midi_event_json(e: &StampedMidiIn) -> serde_json::Value {
    let bar = e.bars.floor();
    let ev = &e.event;
    if ev.kind == MidiInKind::Cc {
        return serde_json::json!({
            "number": ev.key, "value": ev.value, "channel": ev.channel,
            "bar": bar, "beats": e.beats,
        });
    }
    serde_json::json!({
        "pitch": ev.key,
        "velocity": ev.value,
        "on": ev.kind == MidiInKind::NoteOn && ev.value > 0.0,
        "channel": ev.channel,
        "bar": bar,
        "beat": (e.bars - bar) * e.beats_per_bar,
        "beats": e.beats,
        "source": if ev.source == MidiSource::Clip { "clip" } else { "host" },
    })
}

/// Moves every note of `seq` by octaves into `lo..=hi` (a melody model refuses pitches
/// outside its range; the musician may play anywhere).
pub(super) fn fold_into_range(seq: &mut NoteSequence, (lo, hi): (i32, i32)) {
    for n in &mut seq.notes {
        while n.pitch < lo {
            n.pitch += 12;
        }
        while n.pitch > hi {
            n.pitch -= 12;
        }
    }
}
