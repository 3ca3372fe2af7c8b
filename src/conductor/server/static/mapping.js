// Conduct with anything: this page's sensors (a phone's tilt or motion, a touch, the pad) as the
// learnt mapping's input vector, and the panel that records examples, trains and runs it.
// Whatever sends the input (this page, OSC, Wekinator's /wek/inputs), the panel draws it.
"use strict";

const mapper = (() => {
  const $k = (id) => document.getElementById(id);
  const INPUT_MS = 16;  // at most ~60 vectors a second from this page
  const state = { source: "off", values: null, weights: null, low: [], high: [], mapping: null, dirty: true };
  let sendThrottled = null;  // made on first use with app.js's `throttled` (app.js loads after this)

  // At most one vector per INPUT_MS; one that comes sooner waits, and the latest always goes
  // (a sensor at rest is where the performer stopped).
  function sendInput(values) {
    if (values.some((v) => !Number.isFinite(v))) return;
    sendThrottled = sendThrottled || throttled((v) => send({ type: "input", values: v }), INPUT_MS);
    sendThrottled(values.map((v) => Math.round(v * 1000) / 1000));
  }

  // Device orientation: front-back (beta, -180..180) and left-right (gamma, -90..90) tilt; the
  // compass heading (alpha) wraps around, so it is left out.
  function onOrientation(event) {
    if (state.source === "orientation" && event.beta !== null && event.gamma !== null) {
      sendInput([event.beta, event.gamma]);
    }
  }
  // Device motion: acceleration with gravity, m/s² on the device's x, y, z axes.
  function onMotion(event) {
    const a = event.accelerationIncludingGravity;
    if (state.source === "motion" && a && a.x !== null) sendInput([a.x, a.y, a.z]);
  }
  window.addEventListener("deviceorientation", onOrientation);
  window.addEventListener("devicemotion", onMotion);

  // Touch (or a mouse): the position on the input view, x and y in 0..1.
  const surface = $k("input-view");
  surface.addEventListener("pointermove", (event) => {
    if (state.source !== "touch" || (event.pointerType === "mouse" && !event.buttons)) return;
    const rect = surface.getBoundingClientRect();
    sendInput([(event.clientX - rect.left) / rect.width, 1 - (event.clientY - rect.top) / rect.height]);
  });

  async function choose(source) {
    state.source = source;
    // iOS asks the user before a page may read the sensors (on a tap: this change is one)
    const ask = source === "orientation" ? window.DeviceOrientationEvent : source === "motion" ? window.DeviceMotionEvent : null;
    if (ask && typeof ask.requestPermission === "function") {
      try { await ask.requestPermission(); } catch (error) { showError(`sensors refused: ${error}`); }
    }
    surface.classList.toggle("touch", source === "touch");
  }
  $k("input-source").addEventListener("change", () => choose($k("input-source").value));

  const act = (action, extra = {}) => send({ type: "mapping", action, ...extra });
  $k("map-record").addEventListener("click", () => act("record"));
  $k("map-train").addEventListener("click", () => act("train"));
  $k("map-run").addEventListener("change", () => act("run", { on: $k("map-run").checked }));
  $k("map-clear").addEventListener("click", () => act("clear"));
  $k("mapping-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $k("mapping-name").value.trim();
    if (name) act("save", { name });
  });
  $k("map-load").addEventListener("click", () => {
    if ($k("mappings").value) act("load", { name: $k("mappings").value });
  });

  // The pad as the input: while chosen, it sends its position to the mapping, not the weights.
  function takesPad() { return state.source === "pad"; }
  function pad(x, y) { sendInput([x, y]); }

  function input(event) {
    state.values = event.values;
    state.weights = event.weights;
    // each number drawn against the range seen so far (a sensor's units are its own)
    event.values.forEach((v, i) => {
      state.low[i] = Math.min(state.low[i] ?? v, v);
      state.high[i] = Math.max(state.high[i] ?? v, v);
    });
    state.low.length = state.high.length = event.values.length;
    state.dirty = true;
  }

  function update(mapping) {
    if (!mapping) return;
    state.mapping = mapping;
    if (mapping.input && !state.values) input({ values: mapping.input, weights: null });
    if (document.activeElement !== $k("map-run")) $k("map-run").checked = mapping.running;
    const training = mapping.training ? "training…" : mapping.trained ? (mapping.stale ? "trained (examples changed since)" : "trained") : "not trained";
    const loss = mapping.loss !== null && mapping.trained ? ` · fit ${mapping.loss.toExponential(1)}` : "";
    $k("mapping-info").textContent =
      `${mapping.examples} example${mapping.examples === 1 ? "" : "s"}` +
      (mapping.inputs ? ` of ${mapping.inputs} inputs` : "") + ` · ${training}${loss}` + (mapping.running ? " · running" : "");
    $k("mapping-count").textContent = mapping.examples ? `${mapping.examples}` : "";
    const saved = $k("mappings");
    if (saved.options.length !== mapping.saved.length || mapping.saved.some((n, i) => saved.options[i].value !== n)) {
      saved.textContent = "";
      for (const name of mapping.saved) saved.add(new Option(name, name));
    }
  }

  function frame() {
    if (!state.dirty) return;
    state.dirty = false;
    const g = surface.getContext("2d");
    const w = surface.width, h = surface.height;
    g.clearRect(0, 0, w, h);
    const values = state.values || [];
    $k("input-values").textContent = values.length ? values.map((v) => v.toFixed(2)).join("  ") : "no input yet";
    if (!values.length) return;
    const bar = w / values.length;
    values.forEach((v, i) => {
      const span = state.high[i] - state.low[i];
      const t = span > 0 ? (v - state.low[i]) / span : 0.5;
      g.fillStyle = "#6f9bff";
      g.fillRect(i * bar + 2, h - t * (h - 4) - 2, bar - 4, t * (h - 4));
    });
  }

  return { input, update, frame, takesPad, pad, get source() { return state.source; } };
})();
