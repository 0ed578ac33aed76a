// vjengine's control page: a plain OSCQuery client. It builds a control for every node of the engine's
// OSCQuery tree (one per registry parameter, grouped by the node's TAGS), LISTENs to every value over the
// websocket and sends values back as binary OSC. The same websocket pushes the engine's status (fps, model,
// outputs, MIDI, stored presets) for the status line, the pads and MIDI learn: nothing is polled. A notice
// from the engine (controls unavailable, and why) is shown above the picture. No library: the DOM, fetch
// and WebSocket are enough.
"use strict";
(() => {
  const PREFIX = "/vj/";
  const PADS = 16; // pads shown even when empty; stored slots past them get a pad too
  const SEND_INTERVAL_MS = 33; // a dragged slider sends at most ~30 values a second, and always its last one
  const STATUS_COMMAND = "VJENGINE_STATUS"; // the engine's OSCQuery extension: push me the status
  const RECONNECT_MS = 1000;

  const token = new URLSearchParams(location.search).get("token") || "";
  const withToken = (url) => (token ? `${url}${url.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}` : url);
  const oscqueryPort = Number(document.body.dataset.oscqueryPort) || 0;
  const engineNotice = document.body.dataset.notice || ""; // why the controls are missing or partial
  const host = location.hostname.includes(":") && !location.hostname.startsWith("[") ? `[${location.hostname}]` : location.hostname;
  const treeUrl = withToken(`http://${host}:${oscqueryPort}/`);
  const wsUrl = withToken(`ws://${host}:${oscqueryPort}/`);

  const $ = (id) => document.getElementById(id);
  const params = new Map(); // OSC address -> parameter (its declaration from the tree, its control, its value)
  const byName = new Map();
  let ws = null;
  let seq = 0; // counts values received, to tell a fresh websocket value from an older HTTP read
  let storeMode = false;
  let status = {};
  let learning = null;
  let sent = 0; // OSC messages sent on this websocket; a pushed status says how many the engine had handled
  let learnSent = 0; // a status from before the last learn click was handled can neither confirm nor deny it

  // ---- OSC 1.0 messages: the subset OSCQuery values use (f, i, s, T, F; bundles unpacked) ----
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();

  function oscString(text) {
    const bytes = encoder.encode(text);
    const out = new Uint8Array(((bytes.length >> 2) << 2) + 4); // NUL-terminated, padded to 4 bytes
    out.set(bytes);
    return out;
  }

  function encodeOSC(address, args) {
    const parts = [oscString(address), oscString("," + args.map((a) => a[0]).join(""))];
    for (const [tag, value] of args) {
      if (tag === "f" || tag === "i") {
        const word = new DataView(new ArrayBuffer(4));
        if (tag === "f") word.setFloat32(0, value);
        else word.setInt32(0, value);
        parts.push(new Uint8Array(word.buffer));
      } else if (tag === "s") {
        parts.push(oscString(value));
      }
    }
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out.buffer;
  }

  function decodeOSC(buffer, out = []) {
    const view = new DataView(buffer);
    let pos = 0;
    const string = () => {
      let end = pos;
      while (end < view.byteLength && view.getUint8(end) !== 0) end++;
      const text = decoder.decode(new Uint8Array(buffer, pos, end - pos));
      pos = (end + 4) & ~3;
      return text;
    };
    const address = string();
    if (address === "#bundle") {
      pos += 8; // the time tag: values apply on arrival
      while (pos + 4 <= view.byteLength) {
        const size = view.getInt32(pos);
        decodeOSC(buffer.slice(pos + 4, pos + 4 + size), out);
        pos += 4 + size;
      }
      return out;
    }
    const args = [];
    for (const tag of string().slice(1)) {
      if (tag === "f") { args.push(view.getFloat32(pos)); pos += 4; }
      else if (tag === "i") { args.push(view.getInt32(pos)); pos += 4; }
      else if (tag === "d") { args.push(view.getFloat64(pos)); pos += 8; }
      else if (tag === "h") { args.push(Number(view.getBigInt64(pos))); pos += 8; }
      else if (tag === "s" || tag === "S") args.push(string());
      else if (tag === "T" || tag === "F") args.push(tag === "T");
      else break; // a type this page never needs (blob, MIDI ...): the rest cannot be read
    }
    out.push({ address, args });
    return out;
  }

  // ---- the tree: one parameter per node with a TYPE ----
  function nodes(node, out = []) {
    if (node.TYPE) out.push(node);
    for (const child of Object.values(node.CONTENTS || {})) nodes(child, out);
    return out;
  }

  function declaration(node) {
    const type = node.TYPE;
    const range = (node.RANGE || [])[0] || {};
    const choices = range.VALS || null;
    let kind = "string";
    if (type === "f") kind = "float";
    else if (type === "i") kind = "int";
    else if (type === "T" || type === "F") kind = "bool";
    else if (/^f{2,}$/.test(type)) kind = "vector";
    else if (choices) kind = "enum";
    const name = node.FULL_PATH.startsWith(PREFIX) ? node.FULL_PATH.slice(PREFIX.length).replaceAll("/", ".") : node.FULL_PATH;
    return {
      name, kind, choices, address: node.FULL_PATH,
      min: range.MIN, max: range.MAX, unit: (node.UNIT || [""])[0] || "",
      action: node.ACCESS === 2, description: node.DESCRIPTION || "",
      group: (node.TAGS || [])[0] || name.split(".")[0],
      value: node.VALUE, held: false, updated: 0, pending: undefined, timer: null,
    };
  }

  const ranged = (p) => typeof p.min === "number" && typeof p.max === "number";
  const learnable = (p) => p.kind === "bool" || p.kind === "enum" || (p.kind !== "string" && ranged(p));

  function step(p) {
    if (p.kind === "int") return 1;
    const span = p.max - p.min;
    return span > 0 ? 10 ** Math.floor(Math.log10(span / 500)) : 0.01;
  }

  function format(p, value) {
    if (value === undefined || value === null) return "";
    let text;
    if (p.kind === "float") text = Number(value).toFixed(Math.max(0, -Math.round(Math.log10(p.step || 0.01))));
    else if (p.kind === "vector") text = value.map((v) => Number(v).toFixed(2)).join(", ");
    else text = String(value);
    return p.unit ? `${text} ${p.unit}` : text;
  }

  // ---- controls ----
  function element(tag, props = {}, children = []) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "dataset") Object.assign(el.dataset, value);
      else if (key in el) el[key] = value;
      else el.setAttribute(key, value);
    }
    for (const child of children) el.append(child);
    return el;
  }

  function makeControl(p) {
    const id = `param-${p.name}`;
    const data = { param: p.name };
    if (p.kind === "bool" && p.action) {
      return element("button", { id, type: "button", textContent: "trigger", dataset: data, onclick: () => send(p, true) });
    }
    if (p.kind === "bool") {
      return element("input", { id, type: "checkbox", role: "switch", dataset: data, onchange: (e) => send(p, e.target.checked) });
    }
    if (p.kind === "enum") {
      const select = element("select", { id, dataset: data, onchange: (e) => send(p, e.target.value) });
      for (const choice of p.choices) select.append(element("option", { value: choice, textContent: choice }));
      return select;
    }
    const numeric = p.kind === "float" || p.kind === "int";
    if (numeric && ranged(p) && !p.action && (p.kind === "float" || p.max - p.min <= 10000)) {
      p.step = step(p);
      return element("input", {
        id, type: "range", min: p.min, max: p.max, step: p.step, dataset: data,
        oninput: (e) => sendSoon(p, Number(e.target.value)),
      });
    }
    if (numeric) {
      // A seed (billions of values) or a trigger slot: typed, sent on Enter or when the field is left.
      const input = element("input", { id, type: "number", step: p.kind === "int" ? 1 : "any", dataset: data });
      if (ranged(p)) Object.assign(input, { min: p.min, max: p.max });
      input.onchange = () => input.value !== "" && send(p, Number(input.value));
      if (!p.action) return input;
      const go = element("button", { type: "button", textContent: "go", onclick: () => input.value !== "" && send(p, Number(input.value)) });
      return [input, go];
    }
    // Text and vectors: sent when typed out (Enter or leaving the field), never per keystroke.
    const input = element("input", { id, type: "text", dataset: data, spellcheck: false });
    input.onchange = () => send(p, p.kind === "vector" ? input.value.split(/[\s,]+/).filter(Boolean).map(Number) : input.value);
    return input;
  }

  function makeRow(p) {
    const control = makeControl(p);
    p.el = Array.isArray(control) ? control[0] : control;
    p.output = element("output", { htmlFor: p.el.id });
    const learn = element("button", { type: "button", className: "learn", textContent: "learn", dataset: { learn: p.name } });
    learn.onclick = () => toggleLearn(p);
    learn.hidden = !learnable(p);
    p.learn = learn;
    const row = element("div", { className: "row", title: p.description, dataset: { row: p.name } }, [
      element("label", { htmlFor: p.el.id, textContent: p.name }),
      element("div", { className: "control" }, Array.isArray(control) ? control : [control]),
      p.output,
      learn,
    ]);
    // While a finger or the mouse holds a control, or a field is being typed in, values from elsewhere
    // wait: the control must not jump under the performer's hand.
    p.el.addEventListener("pointerdown", () => { p.held = true; });
    p.el.addEventListener("blur", () => show(p));
    return row;
  }

  const typing = (p) => document.activeElement === p.el && (p.el.type === "text" || p.el.type === "number");
  const busy = (p) => p.held || typing(p);

  function release(p) {
    if (!p.held) return;
    p.held = false;
    if (!busy(p)) show(p);
  }

  function build(tree) {
    const container = $("controls");
    container.replaceChildren();
    params.clear();
    byName.clear();
    const groups = new Map();
    for (const node of nodes(tree)) {
      const p = declaration(node);
      params.set(p.address, p);
      byName.set(p.name, p);
      if (!groups.has(p.group)) {
        const details = element("details", { className: "group", open: true, dataset: { group: p.group } }, [
          element("summary", { textContent: p.group }),
        ]);
        groups.set(p.group, details);
        container.append(details);
      }
      groups.get(p.group).append(makeRow(p));
      if (p.value !== undefined) receive(p, valueOf(p, p.value));
    }
    applyFilter();
  }

  function valueOf(p, args) {
    if (p.kind === "vector") return args.map(Number);
    const value = args[0];
    if (p.kind === "float") return Number(value);
    if (p.kind === "int") return Math.round(Number(value));
    if (p.kind === "bool") return Boolean(value);
    return String(value);
  }

  function receive(p, value) {
    p.value = value;
    p.updated = ++seq;
    if (!busy(p)) show(p);
    if (p.name === "preset.a") markPads();
    if (p.name === "render.paused") $("pause").setAttribute("aria-pressed", String(Boolean(value)));
    if (p.name === "tempo.bpm" || p.name === "walk.bpm") showStatus();
  }

  function show(p) {
    const el = p.el;
    if (!el || p.value === undefined) return;
    if (el.type === "checkbox") el.checked = Boolean(p.value);
    else if (el.tagName !== "BUTTON") el.value = p.kind === "vector" ? p.value.join(", ") : String(p.value);
    p.output.textContent = p.action ? "" : format(p, p.value);
  }

  // ---- sending ----
  function args(p, value) {
    if (p.kind === "float") return [["f", value]];
    if (p.kind === "int") return [["i", Math.round(value)]];
    if (p.kind === "bool") return [[value ? "T" : "F"]];
    if (p.kind === "vector") return value.map((v) => ["f", v]);
    return [["s", String(value)]];
  }

  function command(address, list) {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(encodeOSC(address, list));
      sent++;
    }
  }

  function send(p, value) {
    command(p.address, args(p, value));
    if (!p.action) {
      p.value = value;
      p.output.textContent = format(p, value);
    }
  }

  function sendSoon(p, value) {
    p.pending = value;
    if (p.timer === null) flush(p);
  }

  function flush(p) {
    if (p.pending === undefined) { p.timer = null; return; }
    send(p, p.pending);
    p.pending = undefined;
    p.timer = setTimeout(() => flush(p), SEND_INTERVAL_MS);
  }

  // ---- the connection ----
  async function fetchJSON(url) {
    const response = await fetch(url, { cache: "no-store" });
    if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
    return response.json();
  }

  async function start() {
    notice(engineNotice);
    if (!oscqueryPort) return; // the notice says why
    try {
      build(await fetchJSON(treeUrl));
      notice(engineNotice);
    } catch (error) {
      notice(`Cannot read the parameters from OSCQuery on port ${oscqueryPort} (${error.message}); retrying.`);
      setTimeout(start, RECONNECT_MS * 2);
      return;
    }
    connect();
  }

  function connect() {
    ws = new WebSocket(wsUrl);
    ws.binaryType = "arraybuffer";
    ws.onopen = async () => {
      sent = 0;
      learnSent = 0;
      ws.send(JSON.stringify({ COMMAND: STATUS_COMMAND }));
      for (const p of params.values()) if (!p.action) ws.send(JSON.stringify({ COMMAND: "LISTEN", DATA: p.address }));
      // Values that changed before LISTEN took hold: read once more, keeping any newer one the socket brought.
      const mark = seq;
      try {
        for (const node of nodes(await fetchJSON(treeUrl))) {
          const p = params.get(node.FULL_PATH);
          if (p && node.VALUE && p.updated <= mark) receive(p, valueOf(p, node.VALUE));
        }
      } catch (error) {
        notice(`Reading the values failed (${error.message}).`);
      }
      document.body.dataset.live = "1";
      showStatus();
    };
    ws.onmessage = (event) => {
      if (typeof event.data === "string") {
        const message = JSON.parse(event.data);
        if (message.COMMAND === STATUS_COMMAND) showPushed(message.DATA, message.HANDLED);
        return;
      }
      for (const message of decodeOSC(event.data)) {
        const p = params.get(message.address);
        if (p) receive(p, valueOf(p, message.args));
      }
    };
    ws.onclose = () => {
      delete document.body.dataset.live;
      status = {}; // what the engine said last is no longer known to be true
      showStatus();
      setTimeout(connect, RECONNECT_MS);
    };
  }

  function notice(text) {
    $("notice").textContent = text;
    $("notice").hidden = !text;
  }

  // ---- status line, presets, MIDI learn ----
  function showPushed(data, handled) {
    status = data;
    showStatus();
    showPads();
    showLearn(handled >= learnSent);
  }

  function showStatus() {
    const parts = [];
    const line = $("status");
    line.replaceChildren();
    if (!document.body.dataset.live) parts.push(["bad", oscqueryPort ? "controls offline, reconnecting…" : "no controls"]);
    if (status.error) parts.push(["bad", `status unavailable (${status.error})`]);
    if (typeof status.fps === "number") parts.push(["", `${status.fps.toFixed(1)} fps`]);
    if (status.model) parts.push(["", status.model]);
    if (status.source) parts.push(["", `source ${status.source}`]);
    if (status.outputs) parts.push(["", `out ${status.outputs.join(", ") || "none"}`]);
    if (status.hand !== null && status.hand !== undefined) parts.push([status.hand ? "ok" : "", `hand ${status.hand ? "yes" : "no"}`]);
    if (status.face !== null && status.face !== undefined) parts.push([status.face ? "ok" : "", `face ${status.face ? "yes" : "no"}`]);
    const bpm = byName.get("tempo.bpm") || byName.get("walk.bpm");
    if (bpm && bpm.value) parts.push(["", `${Number(bpm.value).toFixed(1)} bpm`]);
    if (status.midi) parts.push([status.midi.input ? "" : "bad", `midi ${status.midi.controller}${status.midi.input ? "" : " waiting"}`]);
    for (const name of status.down || []) parts.push(["bad", `${name} down`]);
    for (const name of status.failed || []) parts.push(["bad", `${name} failed`]);
    parts.forEach(([cls, text], i) => {
      if (i) line.append(" · ");
      line.append(element("span", { className: cls, textContent: text }));
    });
  }

  function showPads() {
    const pads = $("pads");
    const stored = new Map((status.presets || []).map((p) => [p.slot, p.name]));
    const count = Math.max(PADS, ...stored.keys());
    if (pads.children.length !== count) {
      pads.replaceChildren();
      for (let slot = 1; slot <= count; slot++) {
        pads.append(element("button", { type: "button", textContent: String(slot), dataset: { preset: slot }, onclick: (e) => pad(slot, e.shiftKey) }));
      }
    }
    for (const button of pads.children) {
      const slot = Number(button.dataset.preset);
      button.classList.toggle("stored", stored.has(slot));
      button.title = stored.has(slot) ? `recall preset ${slot}${stored.get(slot) ? ` (${stored.get(slot)})` : ""}; shift: store` : `empty: shift+click (or store, then this pad) stores the picture`;
    }
    markPads();
  }

  function markPads() {
    const a = byName.get("preset.a");
    for (const button of $("pads").children) button.classList.toggle("active", Boolean(a) && Number(button.dataset.preset) === a.value);
  }

  function pad(slot, store) {
    if (store || storeMode) {
      command("/vj/preset/store", [["i", slot]]);
      setStoreMode(false);
      const button = $("pads").querySelector(`[data-preset="${slot}"]`);
      if (button) { button.classList.add("flash"); setTimeout(() => button.classList.remove("flash"), 400); }
    } else {
      command("/vj/preset/recall", [["i", slot]]);
    }
  }

  function setStoreMode(on) {
    storeMode = on;
    $("store").setAttribute("aria-pressed", String(on));
  }

  function toggleLearn(p) {
    command("/vj/learn", [["s", learning === p.name ? "" : p.name]]);
    learning = learning === p.name ? null : p.name; // the next status confirms (or corrects) it
    learnSent = sent;
    showLearn(false);
  }

  function showLearn(fresh) {
    const midi = status.midi;
    const engineLearning = midi ? midi.learning : null;
    if (fresh && status.midi !== undefined) {
      if (learning && engineLearning === null) { // bound: the row lights up for a moment
        const row = document.querySelector(`[data-row="${CSS.escape(learning)}"]`);
        if (row) { row.classList.add("learned"); setTimeout(() => row.classList.remove("learned"), 1500); }
      }
      learning = engineLearning;
    }
    for (const p of params.values()) {
      p.learn.disabled = !midi;
      p.learn.title = midi ? `MIDI learn: click, then move a control on ${midi.controller}` : "MIDI learn needs a controller: start with --midi NAME";
      p.learn.classList.toggle("learning", learning === p.name);
    }
  }

  // ---- filter and keys ----
  function applyFilter() {
    const words = $("filter").value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    for (const group of $("controls").children) {
      let any = false;
      for (const row of group.querySelectorAll(".row")) {
        const text = `${row.dataset.row} ${row.title} ${group.dataset.group}`.toLowerCase();
        row.hidden = !words.every((w) => text.includes(w));
        any ||= !row.hidden;
      }
      group.hidden = !any;
      if (words.length && any) group.open = true;
    }
  }

  function togglePause() {
    const paused = byName.get("render.paused");
    if (paused) send(paused, !paused.value);
  }

  function onKey(event) {
    const typing = event.target.matches("input[type=text], input[type=search], input[type=number], select");
    if (event.key === "Escape") {
      $("filter").value = "";
      applyFilter();
      if (learning) {
        command("/vj/learn", [["s", ""]]);
        learning = null;
        learnSent = sent;
        showLearn(false);
      }
      setStoreMode(false);
      event.target.blur?.();
      return;
    }
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    const digit = /^Digit(\d)$/.exec(event.code);
    if (digit) {
      pad(digit[1] === "0" ? 10 : Number(digit[1]), event.shiftKey);
    } else if (event.key === " ") {
      togglePause();
    } else if (event.key === "/") {
      $("filter").focus();
    } else {
      return;
    }
    event.preventDefault();
  }

  function showPicture() {
    const picture = $("picture");
    picture.onerror = () => setTimeout(() => { picture.src = withToken(`/stream?retry=${Date.now()}`); }, RECONNECT_MS * 2);
    picture.src = withToken("/stream");
  }

  window.addEventListener("pointerup", () => params.forEach(release));
  window.addEventListener("pointercancel", () => params.forEach(release));
  window.addEventListener("keydown", onKey);
  $("filter").addEventListener("input", applyFilter);
  $("pause").addEventListener("click", togglePause);
  $("store").addEventListener("click", () => setStoreMode(!storeMode));
  showPicture();
  showPads();
  showStatus();
  start();
})();
