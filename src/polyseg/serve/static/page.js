// polyseg's try-it page: open an image, click four extreme points or drag a box, see the polygon at once; then
// correct it with more clicks (click: add what was missed; right-click or shift-click: remove what was taken).
// No build step, no dependencies: it talks to POST /api/segment of `polyseg serve`, sending every click so far.
"use strict";

const canvas = document.getElementById("canvas");
const ctx = canvas.getContext("2d");
const fileInput = document.getElementById("file");
const tolerance = document.getElementById("tolerance");
const toleranceValue = document.getElementById("tolerance-value");
const labelInput = document.getElementById("label");
const undoButton = document.getElementById("undo");
const statusLine = document.getElementById("status");
const token = new URLSearchParams(location.search).get("token");

// Exposed for tests and for the curious: the last answer of the server and the current prompt. `points` are the
// four extreme-point clicks, `corrections` the later clicks in order ({x, y, positive}).
const state = window.polysegPage = { image: null, dataUrl: null, fileName: "image.jpg", points: [], box: null,
  corrections: [], drag: null, result: null, requests: 0 };

const MARKERS = { extreme: "rgb(255, 0, 0)", positive: "rgb(0, 200, 0)", negative: "rgb(255, 0, 255)" };

// The first outline needs four extreme points or a box; clicks after that are corrections.
function hasPrompt() { return state.points.length === 4 || state.box !== null; }

function setStatus(kind, text) { document.body.dataset.status = kind; statusLine.textContent = text; }

// Image pixel-centre coordinates of a mouse event: (0, 0) is the centre of the top-left pixel.
function imagePoint(ev) {
  const r = canvas.getBoundingClientRect();
  return [(ev.clientX - r.left) * canvas.width / r.width - 0.5, (ev.clientY - r.top) * canvas.height / r.height - 0.5];
}

function draw() {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!state.image) return;
  ctx.drawImage(state.image, 0, 0);
  const lw = Math.max(2, canvas.width / 400);
  if (state.result) {
    for (const part of state.result.parts) {
      ctx.beginPath();
      for (const ring of [part.outer, ...part.holes]) {
        ring.forEach(([x, y], i) => (i ? ctx.lineTo(x + 0.5, y + 0.5) : ctx.moveTo(x + 0.5, y + 0.5)));
        ctx.closePath();
      }
      ctx.fillStyle = "rgba(0, 200, 0, 0.3)";
      ctx.fill("evenodd");
      ctx.strokeStyle = "rgb(255, 255, 0)";
      ctx.lineWidth = lw;
      ctx.stroke();
    }
  }
  const box = state.box || state.drag;
  if (box) {
    ctx.strokeStyle = "rgb(0, 128, 255)";
    ctx.lineWidth = lw;
    ctx.strokeRect(box[0] + 0.5, box[1] + 0.5, box[2] - box[0], box[3] - box[1]);
  }
  for (const [x, y] of state.points) marker(x, y, MARKERS.extreme, null, lw);
  for (const c of state.corrections) marker(c.x, c.y, MARKERS[c.positive ? "positive" : "negative"],
    c.positive ? "+" : "-", lw);
  undoButton.disabled = !(state.corrections.length || state.points.length || state.box);
}

// A filled disc; corrections get a white ring and a white + or - (so they differ by more than colour).
function marker(x, y, colour, sign, lw) {
  const r = 2.5 * lw, cx = x + 0.5, cy = y + 0.5;
  ctx.beginPath();
  ctx.arc(cx, cy, r, 0, 2 * Math.PI);
  ctx.fillStyle = colour;
  ctx.fill();
  if (!sign) return;
  ctx.strokeStyle = "rgb(255, 255, 255)";
  ctx.lineWidth = lw / 2;
  ctx.stroke();
  ctx.beginPath();
  ctx.moveTo(cx - r / 2, cy); ctx.lineTo(cx + r / 2, cy);
  if (sign === "+") { ctx.moveTo(cx, cy - r / 2); ctx.lineTo(cx, cy + r / 2); }
  ctx.stroke();
}

async function segment() {
  if (!state.dataUrl || !hasPrompt()) return;
  // Every click so far; the server tells which are the extreme points and which corrections.
  const clicks = (positive) => state.corrections.filter((c) => c.positive === positive).map((c) => [c.x, c.y]);
  const body = { image: state.dataUrl, tolerance: Number(tolerance.value), label: labelInput.value || "object",
    file_name: state.fileName, points: [...state.points, ...clicks(true)], negative: clicks(false), box: state.box };
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  const id = ++state.requests;
  setStatus("loading", "segmenting…");
  const t0 = performance.now();
  let answer;
  try {
    const response = await fetch("/api/segment", { method: "POST", headers, body: JSON.stringify(body) });
    answer = await response.json();
    if (!response.ok) throw new Error(answer.error || response.statusText);
  } catch (err) {
    if (id === state.requests) setStatus("error", "error: " + err.message);
    return;
  }
  if (id !== state.requests) return; // a newer request is on its way
  state.result = answer;
  draw();
  for (const name of ["coco", "labelme", "cvat"]) document.getElementById("dl-" + name).disabled = !answer.files[name];
  const ms = Math.round(performance.now() - t0);
  const corrections = answer.prompt.positive.length + answer.prompt.negative.length;
  setStatus("done", `polygon: ${answer.polygon.length} vertices, ${answer.parts.length} part(s), ` +
    `area ${answer.area} px, score ${answer.score.toFixed(3)}, tolerance ${answer.tolerance} px` +
    (corrections ? `, ${corrections} correction(s)` : "") + ` (${ms} ms)`);
}

// No outline until the prompt is complete again; an answer still on its way is dropped.
function forgetResult() {
  state.result = null;
  state.requests++;
  for (const name of ["coco", "labelme", "cvat"]) document.getElementById("dl-" + name).disabled = true;
}

function clearPrompt() {
  state.points = []; state.box = null; state.corrections = []; state.drag = null;
  forgetResult();
  setStatus("idle", "");
  draw();
}

function pointsStatus() { setStatus("ready", `${state.points.length} of 4 extreme points`); }

function addClick([x, y], positive) {
  if (hasPrompt()) {
    state.corrections.push({ x, y, positive });
    segment();
  } else if (positive) {
    state.points.push([x, y]);
    if (hasPrompt()) segment();
    else pointsStatus();
  } else {
    setStatus("ready", "negative clicks correct an outline: click the four extreme points (or drag a box) first");
  }
  draw();
}

// Undo the last click: a correction (asking again with the others), else an extreme point, else the box.
function undo() {
  if (state.corrections.length) {
    state.corrections.pop();
    segment();
  } else if (state.points.length) {
    state.points.pop();
    forgetResult();
    pointsStatus();
  } else if (state.box) {
    state.box = null;
    forgetResult();
    setStatus("ready", "");
  }
  draw();
}

fileInput.addEventListener("change", () => {
  const file = fileInput.files[0];
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => {
    const img = new Image();
    img.onload = () => {
      state.image = img; state.dataUrl = reader.result; state.fileName = file.name;
      canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
      clearPrompt();
      setStatus("ready", `${file.name}: ${img.naturalWidth} x ${img.naturalHeight}`);
    };
    img.onerror = () => setStatus("error", "error: the browser cannot read this image");
    img.src = reader.result;
  };
  reader.readAsDataURL(file);
});

canvas.addEventListener("contextmenu", (ev) => ev.preventDefault());  // a right-click is a negative click
canvas.addEventListener("mousedown", (ev) => {
  if (!state.image) return;
  if (ev.button === 2) { addClick(imagePoint(ev), false); return; }
  if (ev.button !== 0) return;
  const [x, y] = imagePoint(ev);
  state.drag = [x, y, x, y];
  state.dragStart = [ev.clientX, ev.clientY];
});
canvas.addEventListener("mousemove", (ev) => {
  if (!state.drag) return;
  const [x, y] = imagePoint(ev);
  state.drag[2] = x; state.drag[3] = y;
  draw();
});
window.addEventListener("mouseup", (ev) => {
  if (!state.drag) return;
  const moved = Math.hypot(ev.clientX - state.dragStart[0], ev.clientY - state.dragStart[1]);
  const [x0, y0] = state.drag;
  const [x1, y1] = imagePoint(ev);
  state.drag = null;
  if (moved > 5) { // a box: a new object
    state.points = []; state.corrections = [];
    state.box = [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)];
    forgetResult();
    segment();
    draw();
  } else { // a click: an extreme point, or after them a correction (shift-click: a negative one)
    addClick([x1, y1], !ev.shiftKey);
  }
});

tolerance.addEventListener("input", () => { toleranceValue.textContent = tolerance.value; segment(); });
labelInput.addEventListener("change", segment);
document.getElementById("clear").addEventListener("click", clearPrompt);
undoButton.addEventListener("click", undo);
document.addEventListener("keydown", (ev) => {
  const typing = ev.target instanceof HTMLInputElement && ev.target.type === "text";  // its own undo
  if ((ev.ctrlKey || ev.metaKey) && !ev.shiftKey && ev.key.toLowerCase() === "z" && !typing) {
    ev.preventDefault();
    undo();
  }
});

function download(name) {
  if (!state.result || !state.result.files[name]) return;
  const blob = new Blob([JSON.stringify(state.result.files[name], null, 1)], { type: "application/json" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = state.fileName.replace(/\.[^.]*$/, "") + "." + name + ".json";
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
for (const name of ["coco", "labelme", "cvat"]) {
  document.getElementById("dl-" + name).addEventListener("click", () => download(name));
}
