// polyseg's try-it page: open an image, click four extreme points or drag a box, see the polygon at once.
// No build step, no dependencies: it talks to POST /api/segment of `polyseg serve`.
"use strict";

const canvas = document.getElementById("canvas");
const ctx = canvas.getContext("2d");
const fileInput = document.getElementById("file");
const tolerance = document.getElementById("tolerance");
const toleranceValue = document.getElementById("tolerance-value");
const labelInput = document.getElementById("label");
const statusLine = document.getElementById("status");
const token = new URLSearchParams(location.search).get("token");

// Exposed for tests and for the curious: the last answer of the server and the current prompt.
const state = window.polysegPage = { image: null, dataUrl: null, fileName: "image.jpg", points: [], box: null,
  drag: null, result: null, requests: 0 };

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
  for (const [x, y] of state.points) {
    ctx.beginPath();
    ctx.arc(x + 0.5, y + 0.5, 2.5 * lw, 0, 2 * Math.PI);
    ctx.fillStyle = "rgb(255, 0, 0)";
    ctx.fill();
  }
}

async function segment() {
  if (!state.dataUrl || (state.points.length < 4 && !state.box)) return;
  const body = { image: state.dataUrl, tolerance: Number(tolerance.value), label: labelInput.value || "object",
    file_name: state.fileName, points: state.points, box: state.box };  // the server tells which is the prompt
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
  setStatus("done", `polygon: ${answer.polygon.length} vertices, ${answer.parts.length} part(s), ` +
    `area ${answer.area} px, score ${answer.score.toFixed(3)}, tolerance ${answer.tolerance} px (${ms} ms)`);
}

function clearPrompt() {
  state.points = []; state.box = null; state.drag = null; state.result = null;
  for (const name of ["coco", "labelme", "cvat"]) document.getElementById("dl-" + name).disabled = true;
  setStatus("idle", "");
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

canvas.addEventListener("mousedown", (ev) => {
  if (!state.image) return;
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
  if (moved > 5) { // a box
    state.points = [];
    state.box = [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)];
    state.result = null;
    segment();
  } else { // a click: a fifth one starts a new object
    if (state.points.length === 4 || state.box) { state.points = []; state.box = null; state.result = null; }
    state.points.push([x1, y1]);
    if (state.points.length === 4) segment();
    else setStatus("ready", `${state.points.length} of 4 extreme points`);
  }
  draw();
});

tolerance.addEventListener("input", () => { toleranceValue.textContent = tolerance.value; segment(); });
labelInput.addEventListener("change", segment);
document.getElementById("clear").addEventListener("click", clearPrompt);

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
