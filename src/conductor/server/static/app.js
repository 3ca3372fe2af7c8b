// conductor's page: a WebSocket to the session, canvases drawn at display rate.
"use strict";

const PALETTE = ["#3fd0e0", "#e05fd0", "#e8d44d", "#5fd38d", "#6f9bff", "#ff6b6b", "#f2f2f2", "#ffa94d"];
const SYMBOLS = ["\n"].concat(Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)));
const MAX_SPANS = 6000;
const RADIUS = 0.72;  // styles sit on a circle of this fraction of the pad's half-width

const $ = (id) => document.getElementById(id);
const view = {
  styles: [], pad: [], ranges: null, state: null, weights: [], mixed: null, perModel: null, library: [],
  lastSymbol: null, step: 0, cursor: null, dragging: false, ahead: "",
};
let socket = null;
let retry = 500;

function colour(name) { return PALETTE[view.styles.indexOf(name) % PALETTE.length] || "#999"; }

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function throttled(fn, ms) {
  let last = 0, timer = null, pending = null;
  return (...args) => {
    pending = args;
    const now = performance.now();
    if (now - last >= ms) { last = now; fn(...pending); pending = null; return; }
    clearTimeout(timer);
    timer = setTimeout(() => { last = performance.now(); if (pending) fn(...pending); pending = null; }, ms);
  };
}

// -- connection -------------------------------------------------------------------------------

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws${location.search}`);
  socket.onopen = () => { retry = 500; setStatus("live", true); };
  socket.onclose = () => {
    setStatus("reconnecting…", false);
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 5000);
  };
  socket.onmessage = (message) => handle(JSON.parse(message.data));
}

function setStatus(text, live) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("live", live);
}

function handle(event) {
  switch (event.type) {
    case "hello":
      view.styles = event.styles;
      view.pad = event.pad;
      view.ranges = event.ranges;
      view.library = event.library || [];
      applyRanges(event.ranges);
      music.hello(event.music);
      buildSliders();
      renderLibrary();
      $("text").textContent = "";
      appendText(event.text, null);
      view.ahead = "";
      applyState(event.state);
      break;
    case "step":
      view.step = event.i;
      view.weights = view.styles.map((name) => event.weights[name] ?? 0);
      view.lastSymbol = event.symbol;
      view.ahead = event.ahead || "";
      appendText(event.symbol, event.by);
      break;
    case "dists":
      view.mixed = event.mixed;
      view.perModel = event.per_model;
      break;
    case "state": applyState(event.state); break;
    case "input": mapper.input(event); break;
    case "bar": music.bar(event); break;
    case "prime": appendText(event.text, null); break;
    case "reset": appendText("\n", null); break;
    case "error": showError(event.message); break;
  }
}

function showError(message) {
  $("error").textContent = message;
  setTimeout(() => { if ($("error").textContent === message) $("error").textContent = ""; }, 4000);
}

// -- text -------------------------------------------------------------------------------------

let textQueue = [];

// The search's foresight: the chosen path's next symbols, faint, after the text (always last).
function aheadSpan() {
  const box = $("text");
  let span = $("ahead");
  if (!span || span.parentElement !== box) {
    span = document.createElement("span");
    span.id = "ahead";
    span.className = "ahead";
    span.setAttribute("aria-hidden", "true");
    box.appendChild(span);
  }
  return span;
}
function appendText(text, by) { if (text) textQueue.push([text, by]); }

function flushText() {
  if (!textQueue.length) return;
  const box = $("text");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  const fragment = document.createDocumentFragment();
  for (const [text, by] of textQueue) {
    const span = document.createElement("span");
    span.textContent = text;
    if (by) { span.style.color = colour(by); span.dataset.by = by; } else span.className = "dim";
    fragment.appendChild(span);
  }
  textQueue = [];
  box.insertBefore(fragment, aheadSpan());
  while (box.childNodes.length > MAX_SPANS) box.removeChild(box.firstChild);
  if (atBottom) box.scrollTop = box.scrollHeight;
}

// -- controls ---------------------------------------------------------------------------------

const sendWeight = throttled((name, value) => send({ type: "set", weights: { [name]: value } }), 30);
const sendXY = throttled((x, y) => send({ type: "xy", x, y }), 30);

function buildSliders() {
  const box = $("sliders");
  box.textContent = "";
  view.styles.forEach((name) => {
    const row = document.createElement("div");
    row.className = "slider";
    row.innerHTML = `<span></span><input type="range" min="0" max="1" step="0.01"><output></output>` +
      `<button type="button" class="learn" title="MIDI learn: move a knob to bind it">learn</button>`;
    row.querySelector(".learn").addEventListener("click", () => send({ type: "learn", style: name }));
    row.querySelector("span").textContent = name;
    row.querySelector("span").style.color = colour(name);
    const input = row.querySelector("input");
    input.dataset.style = name;
    input.addEventListener("input", () => {
      row.querySelector("output").textContent = Number(input.value).toFixed(2);
      sendWeight(name, Number(input.value));
    });
    box.appendChild(row);
  });
}

// The server's own ranges (from the command models): the temperature slider spans all of it;
// the rate slider goes from 1 (0 = free-running is a server option) to the session's maximum.
function applyRanges(ranges) {
  if (!ranges) return;
  const [tLow, tHigh] = ranges.temperature;
  $("temperature").min = tLow;
  $("temperature").max = tHigh;
  $("rate").max = ranges.rate[1];
  if (ranges.search_samples) [$("search-samples").min, $("search-samples").max] = ranges.search_samples;
  if (ranges.search_depth) [$("search-depth").min, $("search-depth").max] = ranges.search_depth;
}

// A weight slider spans 0 up to the server's largest weight; under the product mixer, whose
// negative weights are anti-experts, from the server's smallest (it keeps showing a negative
// weight when the mixer goes back to linear, which then refuses it).
function fitWeightSlider(input, value, mixer) {
  const [low, high] = view.ranges ? view.ranges.weight : [-1, 1];
  input.min = Math.min(mixer === "product" ? low : 0, value);
  input.max = high;
}

// The library: every style the server can load, each with its card's first line; one playing
// can be taken out (not the last), one not playing added (at weight 0: move its slider after).
function renderLibrary() {
  const list = $("library");
  list.textContent = "";
  for (const entry of view.library) {
    const playing = view.styles.includes(entry.name);
    const item = document.createElement("li");
    item.dataset.style = entry.name;
    item.className = playing ? "playing" : "";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = entry.name;
    if (playing) name.style.color = colour(entry.name);
    const about = document.createElement("span");
    about.className = "about dim";
    about.textContent = entry.about;
    const button = document.createElement("button");
    button.type = "button";
    button.className = playing ? "remove" : "add";
    button.textContent = playing ? "remove" : "add";
    button.disabled = playing && view.styles.length === 1;
    button.addEventListener("click", () => send({ type: playing ? "unload" : "load", style: entry.name }));
    item.append(name, button, about);
    list.appendChild(item);
  }
  $("library-count").textContent = view.library.length ? `${view.styles.length} of ${view.library.length} playing` : "";
}

// A style loaded or unloaded (by any surface): the sliders, the pad and the library follow.
function followStyles(state) {
  if (!state.styles || JSON.stringify(state.styles) === JSON.stringify(view.styles)) return;
  view.styles = state.styles;
  view.pad = state.pad || view.pad;
  view.weights = view.styles.map((name) => state.weights[name] ?? 0);
  view.perModel = null;
  buildSliders();
  renderLibrary();
}

function applyState(state) {
  followStyles(state);
  view.state = state;
  mapper.update(state.mapping);
  for (const input of document.querySelectorAll("#sliders input")) {
    if (document.activeElement === input) continue;
    const value = state.target[input.dataset.style];
    fitWeightSlider(input, value, state.mixer);
    input.value = value;
    input.parentElement.querySelector("output").textContent = Number(value).toFixed(2);
  }
  if (document.activeElement !== $("mixer")) $("mixer").value = state.mixer;
  if (document.activeElement !== $("temperature")) {
    $("temperature").value = state.temperature;
    $("temperature-out").textContent = state.temperature;
  }
  if (document.activeElement !== $("rate") && state.rate > 0) {
    $("rate").value = state.rate;
    $("rate-out").textContent = state.rate;
  }
  $("play").textContent = state.paused ? "play" : "pause";
  const search = state.search;
  if (search) {
    if (document.activeElement !== $("search")) $("search").checked = search.on;
    if (document.activeElement !== $("search-samples")) $("search-samples").value = search.samples;
    if (document.activeElement !== $("search-depth")) $("search-depth").value = search.depth;
    $("search-info").textContent = search.on ? `search ${search.samples}×${search.depth}` : "";
  }
  for (const button of document.querySelectorAll(".learn")) {
    const name = button.parentElement.querySelector("input").dataset.style;
    button.classList.toggle("active", state.learning === name);
  }
  const presets = $("presets");
  if (presets.options.length !== state.presets.length ||
      state.presets.some((name, i) => presets.options[i].value !== name)) {
    presets.textContent = "";
    for (const name of state.presets) presets.add(new Option(name, name));
  }
}

$("preset-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const name = $("preset-name").value.trim();
  if (name) send({ type: "save", name });
  $("preset-name").value = "";
});
$("recall").addEventListener("click", () => {
  if ($("presets").value) send({ type: "preset", name: $("presets").value, morph: 2 });
});

$("mixer").addEventListener("change", () => send({ type: "set", mixer: $("mixer").value }));
$("temperature").addEventListener("input", throttled(() => {
  $("temperature-out").textContent = $("temperature").value;
  send({ type: "set", temperature: Number($("temperature").value) });
}, 50));
$("rate").addEventListener("input", throttled(() => {
  $("rate-out").textContent = $("rate").value;
  send({ type: "rate", chars_per_s: Number($("rate").value) });
}, 50));
function sendSearch() {
  send({ type: "set", search: {
    on: $("search").checked,
    samples: Number($("search-samples").value),
    depth: Number($("search-depth").value),
  } });
}
$("search").addEventListener("change", sendSearch);
$("search-samples").addEventListener("change", sendSearch);
$("search-depth").addEventListener("change", sendSearch);
$("play").addEventListener("click", () => send({ type: view.state && view.state.paused ? "play" : "pause" }));
$("reset").addEventListener("click", () => send({ type: "reset" }));
$("prime-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("prime").value;
  if (text) send({ type: "prime", text });
  $("prime").value = "";
});

// -- the conducting pad -----------------------------------------------------------------------

const pad = $("pad");
function padPoint(event) {
  const rect = pad.getBoundingClientRect();
  const x = ((event.clientX - rect.left) / rect.width) * 2 - 1;
  const y = 1 - ((event.clientY - rect.top) / rect.height) * 2;
  const clamp = (v) => Math.max(-1, Math.min(1, v / RADIUS));
  return [clamp(x), clamp(y)];
}
pad.addEventListener("pointerdown", (e) => { view.dragging = true; pad.setPointerCapture(e.pointerId); movePad(e); });
pad.addEventListener("pointermove", (e) => { if (view.dragging) movePad(e); });
pad.addEventListener("pointerup", () => { view.dragging = false; });
function movePad(event) {
  const [x, y] = padPoint(event);
  view.cursor = [x, y];
  if (mapper.takesPad()) mapper.pad(x, y); else sendXY(x, y);  // the pad as the mapping's input
}

function drawPad() {
  const g = pad.getContext("2d");
  const w = pad.width, h = pad.height, r = RADIUS * w / 2;
  const at = ([x, y]) => [w / 2 + x * r, h / 2 - y * r];
  g.clearRect(0, 0, w, h);
  g.strokeStyle = "#262b31";
  g.beginPath(); g.arc(w / 2, h / 2, r, 0, 2 * Math.PI); g.stroke();
  view.styles.forEach((name, i) => {
    const [px, py] = at(view.pad[i]);
    const weight = view.weights[i] || 0, size = Math.min(1, Math.abs(weight));
    g.globalAlpha = 0.35 + 0.65 * size;
    g.beginPath(); g.arc(px, py, 5 + 12 * size, 0, 2 * Math.PI);
    if (weight >= 0) { g.fillStyle = colour(name); g.fill(); }
    else { g.strokeStyle = colour(name); g.lineWidth = 2; g.stroke(); g.lineWidth = 1; }  // anti-expert
    g.globalAlpha = 1;
    g.font = "11px system-ui";
    // Labels sit inside the circle on the sides (so none is clipped), above or below at the poles.
    const side = Math.abs(px - w / 2) > 5;
    g.textAlign = !side ? "center" : px < w / 2 ? "left" : "right";
    const dx = !side ? 0 : px < w / 2 ? 12 : -12;
    const dy = side ? 4 : py < h / 2 ? -12 : 20;
    g.fillText(name, px + dx, py + dy);
  });
  if (view.cursor) {
    const [cx, cy] = at(view.cursor);
    g.strokeStyle = "#fff";
    g.beginPath(); g.arc(cx, cy, 7, 0, 2 * Math.PI); g.stroke();
  }
}

// -- distributions ----------------------------------------------------------------------------
//
// One row per style and the mixed row on top. Colour is on a log scale (1e-4 → dark blue,
// 1 → red) so the runners-up of a peaked distribution show; each row names its top symbols;
// the mixed row is a bar per symbol split into each style's part of it; a style the threshold
// skips is drawn as skipped (dimmed, with its weight), not as a distribution it did not make.
// On a narrow screen each row's words go on a line above its strip, so strips keep their height.

const FLOOR = 4;  // decades below probability 1 that still get colour
const TOP = 3;    // symbols named per row
const SUMMARY_MS = 250;

function logScale(p) { return p > 0 ? Math.max(0, Math.min(1, 1 + Math.log10(p) / FLOOR)) : 0; }

function heat(t) {
  // blue (unlikely) → red (likely), on the log scale
  const r = Math.round(30 + 225 * t), g = Math.round(40 + 60 * (1 - Math.abs(2 * t - 1))), b = Math.round(200 * (1 - t) + 30);
  return `rgb(${r},${g},${b})`;
}

function shown(symbol) { return symbol === "\n" ? "↵" : symbol === " " ? "␣" : symbol; }
function code(symbol) { return symbol === "\n" ? 10 : symbol.charCodeAt(0); }

function topSymbols(probs, k = TOP) {
  return SYMBOLS.map((s) => [s, probs[code(s)]]).sort((a, b) => b[1] - a[1]).slice(0, k);
}

function percent(p) { return p >= 0.995 ? "100%" : p >= 0.1 ? `${Math.round(p * 100)}%` : `${(p * 100).toFixed(1)}%`; }

// Each running style's part of each symbol's mixed probability: w_i p_i(v) / Σ_j w_j p_j(v)
// (the linear mix exactly; under the product mixer, who favours the symbol).
function contributions(symbolCode) {
  const parts = view.styles.map((name, i) => {
    const w = Math.max(0, view.weights[i] || 0), row = view.perModel && view.perModel[i];
    return row ? w * row[symbolCode] : 0;
  });
  const total = parts.reduce((a, b) => a + b, 0);
  return total > 0 ? parts.map((x) => x / total) : parts;
}

function skipped(index) { return index !== null && view.perModel && view.perModel[index] === null; }

function rowsToDraw() {
  return [["mixed", view.mixed, null]].concat(
    view.styles.map((name, i) => [name, view.perModel ? view.perModel[i] : null, i]));
}

function geometry(width) {
  const narrow = width < 600;
  return {
    narrow, width,
    label: narrow ? 0 : 112, names: narrow ? 0 : 172,
    axis: narrow ? 0 : 14, words: narrow ? 15 : 0,
    strip: narrow ? 16 : 20, mixed: narrow ? 34 : 40, gap: 4,
  };
}

function rowHeight(at, index) { return at.words + (index === null ? at.mixed : at.strip) + at.gap; }

function fitCanvas(canvas, at, rows) {
  const dpr = window.devicePixelRatio || 1;
  const height = at.axis + rows.reduce((sum, [, , index]) => sum + rowHeight(at, index), 0);
  if (canvas.width !== Math.round(at.width * dpr) || canvas.height !== Math.round(height * dpr)) {
    canvas.width = Math.round(at.width * dpr);
    canvas.height = Math.round(height * dpr);
    canvas.style.height = `${height}px`;
  }
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  return g;
}

function drawDistributions() {
  const canvas = $("dists");
  const at = geometry(canvas.clientWidth || 900);
  const rows = rowsToDraw();
  const g = fitCanvas(canvas, at, rows);
  const stripX = at.label, stripW = at.width - at.label - at.names;
  const cellW = stripW / SYMBOLS.length;
  g.clearRect(0, 0, at.width, canvas.height);
  g.font = "10px ui-monospace, monospace";
  g.fillStyle = "#8a9199";
  if (at.axis) SYMBOLS.forEach((s, k) => { if (k % 4 === 1) g.fillText(shown(s), stripX + k * cellW, 11); });
  const chosen = SYMBOLS.indexOf(view.lastSymbol);
  let y = at.axis;
  for (const [name, probs, index] of rows) {
    const height = index === null ? at.mixed : at.strip;
    const isSkipped = skipped(index);
    const weight = index === null ? 1 : isSkipped && view.state ? view.state.target[name] : view.weights[index] || 0;
    const words = isSkipped ? `skipped · weight ${Number(weight).toFixed(2)}`
      : probs ? topSymbols(probs).map(([s, p]) => `${shown(s)} ${percent(p)}`).join("  ") : "";
    const tint = index === null ? "#e6e6e6" : colour(name);
    g.globalAlpha = isSkipped ? 0.45 : 1;
    if (at.narrow) {  // words on their own line above the strip
      g.fillStyle = tint;
      g.font = "11px system-ui";
      g.fillText(index === null ? "mixed" : `${name} ${Math.abs(weight).toFixed(2)}`, 2, y + 11);
      g.fillStyle = "#c9ced4";
      g.textAlign = "right";
      g.fillText(words, at.width - 2, y + 11);
      g.textAlign = "left";
      y += at.words;
    } else {
      g.fillStyle = tint;
      if (index !== null) {  // the weight as a bar behind the name
        g.globalAlpha = isSkipped ? 0.12 : 0.25;
        g.fillRect(0, y + 2, (at.label - 8) * Math.min(1, Math.abs(weight)), height - 4);
      }
      g.globalAlpha = isSkipped ? 0.45 : 1;
      g.font = "11px system-ui";
      g.fillText(name, 4, y + height / 2 + 4);
      g.font = "11px ui-monospace, monospace";
      g.fillStyle = "#c9ced4";
      g.fillText(words, stripX + stripW + 8, y + height / 2 + 4);
    }
    if (isSkipped) {
      g.fillStyle = "#1a1e23";
      g.fillRect(stripX, y, stripW, height);
      g.save();
      g.beginPath(); g.rect(stripX, y, stripW, height); g.clip();
      g.strokeStyle = "#2c323a";
      for (let x = stripX - height; x < stripX + stripW; x += 10) {  // hatched: not running
        g.beginPath(); g.moveTo(x, y + height); g.lineTo(x + height, y); g.stroke();
      }
      g.restore();
    } else if (probs && index === null) {
      SYMBOLS.forEach((s, k) => {  // a bar per symbol, split into each style's part
        const p = probs[code(s)], barH = logScale(p) * height;
        if (barH <= 0) return;
        let base = y + height;
        contributions(code(s)).forEach((share, i) => {
          if (share <= 0) return;
          g.fillStyle = colour(view.styles[i]);
          g.fillRect(stripX + k * cellW, base - share * barH, Math.max(1, cellW - 0.5), share * barH);
          base -= share * barH;
        });
      });
    } else if (probs) {
      SYMBOLS.forEach((s, k) => {
        g.fillStyle = heat(logScale(probs[code(s)]));
        g.fillRect(stripX + k * cellW, y, Math.ceil(cellW), height);
      });
    }
    g.globalAlpha = 1;
    if (chosen >= 0 && probs && !isSkipped) {
      g.strokeStyle = "#fff";
      g.lineWidth = 1.5;
      g.strokeRect(stripX + chosen * cellW, y, cellW, height);
      g.lineWidth = 1;
    }
    y += height + at.gap;
  }
}

// The same reading in words, for screen readers (and the browser tests): a few times a second.
let summaryAt = 0;
function writeSummary(now) {
  if (now - summaryAt < SUMMARY_MS || !view.mixed) return;
  summaryAt = now;
  const lines = rowsToDraw().map(([name, probs, index]) => {
    if (skipped(index)) return `${name}: skipped (weight ${Number(view.state ? view.state.target[name] : 0).toFixed(2)})`;
    if (!probs) return `${name}: waiting`;
    const top = topSymbols(probs).map(([s, p]) => {
      if (index !== null) return `${shown(s)} ${percent(p)}`;
      const parts = contributions(code(s)).map((share, i) => [view.styles[i], share]).filter(([, share]) => share > 0.005);
      return `${shown(s)} ${percent(p)} (${parts.map(([n, share]) => `${n} ${percent(share)}`).join(", ")})`;
    });
    const weight = index === null ? "" : ` (weight ${(view.weights[index] || 0).toFixed(2)})`;
    return `${name}${weight}: ${top.join(", ")}`;
  });
  const list = $("dists-summary");
  list.textContent = "";
  for (const line of lines) { const item = document.createElement("li"); item.textContent = line; list.appendChild(item); }
}

function syncSliders() {
  // The sliders follow the weights in force (set by any surface: the pad, OSC, MIDI, a preset)
  // except the one under the user's hand.
  for (const input of document.querySelectorAll("#sliders input")) {
    if (document.activeElement === input) continue;
    const i = view.styles.indexOf(input.dataset.style);
    // the weight in force (a glide shows as it moves); a skipped style keeps the weight it was
    // given, not the 0 the threshold runs it at
    const value = view.weights[i] === 0 && view.state ? view.state.target[input.dataset.style] : view.weights[i];
    if (value === undefined || Math.abs(Number(input.value) - value) < 0.005) continue;
    input.value = value;
    input.parentElement.querySelector("output").textContent = value.toFixed(2);
  }
}

function frame(now) {
  requestAnimationFrame(frame);  // first: a drawing error costs one frame, never the loop
  flushText();
  const ahead = aheadSpan();
  if (ahead.textContent !== view.ahead) ahead.textContent = view.ahead;
  music.frame();
  mapper.frame();
  syncSliders();
  drawDistributions();
  writeSummary(now || 0);
  drawPad();
  $("step").textContent = view.state ? `step ${view.step}` : "";
}

connect();
requestAnimationFrame(frame);
