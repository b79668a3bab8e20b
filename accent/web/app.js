// accent serve: upload or record a clip, show the top accents and the model card. No external code.
"use strict";

const $ = (id) => document.getElementById(id);
const REASONS = {
  too_short: "This clip is too short to judge an accent. Record or upload at least a second of speech (5-20 s is best).",
  silent: "This clip is silent (or almost). Check the microphone, or choose another file.",
  no_speech: "No speech found in this clip: it sounds like steady noise or a tone. Record someone speaking.",
  undecodable: "This file could not be decoded as audio. Try a wav, mp3, flac or ogg file.",
  not_audio: "That file is not audio. Choose a wav, mp3, flac, ogg or webm clip.",
  too_large: "That file is larger than this server accepts. Use a shorter clip.",
  empty: "That file is empty.",
  timeout: "Scoring took too long. Try a shorter clip or try again later.",
};
let recording = null;   // {recorder, chunks, stream} while recording
let recordedWav = null; // Blob of the last recording, encoded as 16-bit PCM wav
let modelCard = {};     // the model card (/api/model)

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;  // always text: file names and labels are never parsed as HTML
  return node;
}

function showMessage(text, kind = "error") {
  const box = $("message");
  box.textContent = text;
  box.className = kind;
  box.hidden = !text;
}

function fmt(x, digits = 3) { return (x === null || x === undefined) ? "n/a" : Number(x).toFixed(digits); }

async function loadCard() {
  const card = $("card");
  try {
    const res = await fetch("/api/model");
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    modelCard = await res.json();
    renderCard(modelCard);
    renderReading(modelCard);
  } catch (err) {
    card.replaceChildren(el("p", {}, `The model card could not be loaded (${err.message}).`));
  }
}

function renderCard(c) {
  const dl = el("dl", { class: "card" });
  const add = (term, value) => { dl.append(el("dt", {}, term)); const dd = el("dd"); dd.append(value); dl.append(dd); };
  add("Model", document.createTextNode(`${c.name} (${c.mode}${c.backbone ? `, backbone ${c.backbone}` : ""})`));
  if (c.prompt) add("Reads", document.createTextNode("one passage (shown above): other speech is answered " +
                                                       `"${c.off_words}" instead of an accent`));
  if (c.needs_text) add("Reads", document.createTextNode("any sentence, with its transcript in the text field"));
  const chips = el("div", { class: "classes" });
  for (const label of c.classes || []) chips.append(el("span", { class: "chip" }, label));
  add(`Classes (${(c.classes || []).length})`, chips);
  const tr = c.training || {}, ds = tr.dataset || {};
  add("Trained on", document.createTextNode(
    `${tr.n_train_recordings ?? "?"} recordings from ${tr.n_train_speakers ?? "?"} speakers` +
    (ds.n_recordings ? ` (store: ${ds.n_recordings} recordings, ${ds.n_speakers} speakers)` : "")));
  const t = c.test;
  let testText = "no test split was scored";
  if (t) {
    testText = `balanced accuracy ${fmt(t.balanced_accuracy)}`;
    if (t.interval) testText += ` (95% interval ${fmt(t.interval[0])} to ${fmt(t.interval[1])}, resampled over speakers)`;
    testText += ` on ${t.n} recordings of unseen speakers`;
  }
  add("Test result", document.createTextNode(testText));
  const chance = 1 / Math.max(1, (c.classes || []).length);
  const note = el("p", { class: "note" },
    `Chance level is ${fmt(chance)}. The model always answers with one of its classes, even for an accent it ` +
    `never heard; read the probabilities as its confidence, not as proof.`);
  $("card").replaceChildren(dl, note);
}

function renderReading(c) {  // what to say: the passage the model knows, or a sentence with its transcript
  if (c.prompt) {
    $("prompt").textContent = c.prompt;
    $("prompt-box").hidden = false;
  }
  if (c.needs_text) {
    const pool = c.suggestions || [];
    if (pool.length) $("text").value = pool[Math.floor(Math.random() * pool.length)];
    $("text-box").hidden = false;
  }
}

function renderResult(entry) {
  const off = $("off-passage");
  off.hidden = !entry.off_passage;
  $("bars").hidden = Boolean(entry.off_passage);
  if (entry.off_passage) {  // no accent: the clip is not what the model can judge
    $("top-class").textContent = modelCard.off_words || "does not read the passage";
    $("top-prob").textContent = `(passage match ${fmt(entry.passage_match, 2)})`;
    off.textContent = modelCard.prompt
      ? "The clip does not sound like a reading of the passage above, so the model gives no accent. Read the passage aloud and try again."
      : "The clip does not sound like its text, so the model gives no accent. Check the text field and try again.";
    $("result-name").textContent = `for ${entry.path}`;
    $("result-panel").hidden = false;
    return;
  }
  const bars = $("bars");
  bars.replaceChildren();
  for (const { label, probability } of entry.top) {
    const row = el("div", { class: "bar-row" });
    row.append(el("span", { class: "bar-label", title: label }, label));
    const track = el("div", { class: "bar-track" });
    const fill = el("div", { class: "bar-fill" });
    fill.style.width = `${(100 * probability).toFixed(1)}%`;
    track.append(fill);
    row.append(track, el("span", { class: "bar-value" }, `${(100 * probability).toFixed(1)}%`));
    bars.append(row);
  }
  const best = entry.top[0];
  $("top-class").textContent = best.label;
  $("top-prob").textContent = `(${(100 * best.probability).toFixed(1)}%)`;
  $("result-name").textContent = `for ${entry.path}`;
  $("result-panel").hidden = false;
}

async function predict(blob, name) {
  showMessage("Scoring...", "info");
  $("predict").disabled = true;
  $("result-panel").hidden = true;
  try {
    const form = new FormData();
    form.append("audio", blob, name);
    if (modelCard.needs_text) form.append("text", $("text").value);
    const res = await fetch("/api/predict", { method: "POST", body: form });
    let body = null;
    try { body = await res.json(); } catch (_) { /* not JSON: reported below */ }
    if (!res.ok) {
      const reason = body && REASONS[body.reason];
      showMessage(reason ? `${reason} (${body.error})` : (body && body.error) || `The server answered HTTP ${res.status}.`,
                  res.status === 422 ? "warn" : "error");
      return;
    }
    showMessage("");
    renderResult(body[0]);
  } catch (err) {
    showMessage(`The server could not be reached (${err.message}).`);
  } finally {
    $("predict").disabled = false;
  }
}

// --- recording: MediaRecorder, then decoded in the browser and sent as a plain wav -------------
function encodeWav(samples, sampleRate) {
  const buffer = new ArrayBuffer(44 + samples.length * 2);
  const view = new DataView(buffer);
  const text = (offset, s) => { for (let i = 0; i < s.length; i++) view.setUint8(offset + i, s.charCodeAt(i)); };
  text(0, "RIFF"); view.setUint32(4, 36 + samples.length * 2, true); text(8, "WAVE");
  text(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, sampleRate, true); view.setUint32(28, sampleRate * 2, true);
  view.setUint16(32, 2, true); view.setUint16(34, 16, true);
  text(36, "data"); view.setUint32(40, samples.length * 2, true);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    view.setInt16(44 + i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
  }
  return new Blob([buffer], { type: "audio/wav" });
}

async function toWav(blob) {
  const ctx = new (window.AudioContext || window.webkitAudioContext)();
  try {
    const audio = await ctx.decodeAudioData(await blob.arrayBuffer());
    const mono = new Float32Array(audio.length);
    for (let ch = 0; ch < audio.numberOfChannels; ch++) {
      const data = audio.getChannelData(ch);
      for (let i = 0; i < data.length; i++) mono[i] += data[i] / audio.numberOfChannels;
    }
    return encodeWav(mono, audio.sampleRate);
  } finally {
    ctx.close();
  }
}

async function toggleRecording() {
  const button = $("record");
  if (recording) {
    recording.recorder.stop();
    return;
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const recorder = new MediaRecorder(stream);
    recording = { recorder, chunks: [], stream, started: Date.now() };
    recorder.ondataavailable = (e) => { if (e.data.size) recording.chunks.push(e.data); };
    recorder.onstop = async () => {
      const { chunks, stream: s, started } = recording;
      recording = null;
      s.getTracks().forEach((t) => t.stop());
      button.textContent = "Record";
      button.classList.remove("recording");
      $("record-status").textContent = `recorded ${((Date.now() - started) / 1000).toFixed(1)} s`;
      try {
        recordedWav = await toWav(new Blob(chunks, { type: recorder.mimeType }));
      } catch (err) {
        showMessage(`The recording could not be decoded in this browser (${err.message}).`);
        return;
      }
      const player = $("playback");
      player.src = URL.createObjectURL(recordedWav);
      player.hidden = false;
      $("file").value = "";
      predict(recordedWav, "recording.wav");
    };
    recorder.start();
    button.textContent = "Stop";
    button.classList.add("recording");
    $("record-status").textContent = "recording... read a sentence aloud, then press Stop";
  } catch (err) {
    showMessage(`The microphone is not available (${err.message}). Allow it in the browser, or upload a file.`);
  }
}

function setUpRecording() {
  const button = $("record");
  if (!window.isSecureContext || !navigator.mediaDevices || !window.MediaRecorder) {
    button.disabled = true;
    $("record-status").textContent = "recording needs a secure page (https, or localhost on this machine); upload a file instead";
    return;
  }
  button.addEventListener("click", toggleRecording);
}

document.addEventListener("DOMContentLoaded", () => {
  loadCard();
  setUpRecording();
  $("file").addEventListener("change", () => {  // let the visitor listen to what will be scored
    const file = $("file").files[0];
    if (!file) return;
    recordedWav = null;
    $("record-status").textContent = "";
    $("playback").src = URL.createObjectURL(file);
    $("playback").hidden = false;
  });
  $("upload-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const file = $("file").files[0];
    if (file) predict(file, file.name);
    else if (recordedWav) predict(recordedWav, "recording.wav");
    else showMessage("Choose an audio file or record a clip first.", "warn");
  });
});
