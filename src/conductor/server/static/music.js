// The tune as it is written: sheet music (abcjs) grown bar by bar, and a WebAudio synth that
// plays each bar at the time the server placed it on the playback timeline.
"use strict";

const music = (() => {
  const state = {
    on: false, wanted: false, tune: null, header: "", bars: [], dirty: false, ctx: null,
    played: 0, skipped: 0, scheduled: 0, tempo: null, grid: null, chordNotes: 0,
  };
  const $m = (id) => document.getElementById(id);

  function hello(options) {
    $m("music").hidden = !options;
    if (!options) return;
    state.on = true;
    state.tempo = options.tempo;
    // a chord grid the tune keeps to: its name, or its chords
    state.grid = options.chords ? (options.chords.name || options.chords.bars.join(" ")) : null;
    if (options.score) { state.tune = options.tune; state.header = options.score.header; state.bars = options.score.bars.slice(); state.dirty = true; }
    info();
    if (typeof ABCJS === "undefined") {
      $m("score").textContent = "sheet music needs abcjs, which this install lacks (make install, or a wheel built after it); the tune still plays.";
    }
  }

  function info() {
    const running = state.wanted && state.ctx && state.ctx.state === "running";
    const sound = running ? "sound on" : "sound off: press the button";
    $m("sound").textContent = state.wanted ? "sound off" : "sound on";
    $m("music-info").textContent =
      `tune ${state.tune ?? "-"} · ${state.tempo} ♩/min · ` +
      (state.grid ? `chords: ${state.grid} · ` : "") +
      `${state.played} bars played, ` +
      `${state.skipped} skipped · last bar by ${state.lastBy ?? "-"} · ${sound}`;
  }

  function bar(event) {
    if (event.tune !== state.tune) { state.tune = event.tune; state.bars = []; }
    state.header = event.header;
    state.bars.push(event.abc);
    state.played = event.played; state.skipped = event.skipped;
    const writers = Object.entries(event.by || {}).sort((a, b) => b[1] - a[1]);
    state.lastBy = writers.length ? writers[0][0] : null;
    state.dirty = true;
    if (event.starts_in !== null) play(event);
    info();
  }

  function audio() {
    if (!state.ctx) state.ctx = new (window.AudioContext || window.webkitAudioContext)();
    return state.ctx;
  }

  // A plucked, slightly hollow tone: a triangle and a quiet octave, with a quick decay.
  function play(event) {
    const ctx = state.ctx;  // made on the first click: browsers start audio only after a gesture
    if (!state.wanted || !ctx || ctx.state !== "running") return;
    const start = ctx.currentTime + event.starts_in;
    for (const [pitch, velocity, onset, duration, voice] of event.notes) {
      const t = start + onset;
      const freq = 440 * Math.pow(2, (pitch - 69) / 12);
      const gain = ctx.createGain();
      // the accompaniment (voice 1: the tune's chords) is a soft, held pad under the melody
      const pad = voice === 1;
      const peak = (pad ? 0.06 : 0.18) * (velocity / 127);
      gain.gain.setValueAtTime(0, t);
      gain.gain.linearRampToValueAtTime(peak, t + (pad ? 0.04 : 0.01));
      gain.gain.exponentialRampToValueAtTime(peak * (pad ? 0.6 : 0.35), t + Math.max(0.03, duration * 0.6));
      gain.gain.exponentialRampToValueAtTime(0.0001, t + duration * 0.98);
      gain.connect(ctx.destination);
      const partials = pad ? [["sine", 1, 1], ["sine", 2, 0.15]] : [["triangle", 1, 1], ["sine", 2, 0.25]];
      for (const [type, mult, level] of partials) {
        const osc = ctx.createOscillator();
        const g = ctx.createGain();
        osc.type = type; osc.frequency.value = freq * mult; g.gain.value = level;
        osc.connect(g).connect(gain);
        osc.start(t); osc.stop(t + duration);
      }
      state.scheduled += 1;
      if (pad) state.chordNotes += 1;
    }
    window.conductorAudio = { scheduled: state.scheduled, chords: state.chordNotes, lastStart: start };
  }

  function frame() {
    if (!state.on || !state.dirty || typeof ABCJS === "undefined") return;
    state.dirty = false;
    const bars = state.bars.slice(-48);  // the last few lines of the tune
    ABCJS.renderAbc("score", state.header + bars.join(""), { responsive: "resize", add_classes: true });
  }

  document.addEventListener("DOMContentLoaded", () => {
    $m("sound").addEventListener("click", async () => {
      state.wanted = !state.wanted;
      info();
      const ctx = audio();
      if (state.wanted) await ctx.resume(); else await ctx.suspend();
      info();
    });
  });

  return { hello, bar, frame, state };
})();
