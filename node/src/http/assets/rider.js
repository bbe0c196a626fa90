// The rider's page: sign in with the access code, pick a category, take
// the position, a photo and a voice note, and send them as an Open311
// request. Nearby open cases of the same category are offered as "me
// too". Reports go through the outbox (queue.js), so one made offline is
// sent when the phone is back online.
"use strict";

const VOICE_SECONDS_MAX = 60;
const $ = (id) => document.getElementById(id);
const state = { code: null, category: null, position: null, photo: null, voice: null, recorder: null };

function signIn() {
  // The QR link carries the code in the fragment (/#code=...): never sent
  // to any server, and removed from the address bar once read.
  const m = /(?:^#|&)code=([0-9a-fA-F]+)/.exec(location.hash);
  if (m) {
    localStorage.setItem("yizhan-code", m[1]);
    history.replaceState(null, "", location.pathname);
  }
  state.code = localStorage.getItem("yizhan-code");
  $("signin").hidden = !!state.code;
  $("app").hidden = !state.code;
  if (state.code) start();
}

$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const code = $("code").value.trim();
  try {
    await YZ.api(code, "/api/rider/mine");
    localStorage.setItem("yizhan-code", code);
    signIn();
  } catch (e) {
    $("signin-error").textContent = e.message;
  }
});

$("signout").addEventListener("click", (ev) => {
  ev.preventDefault();
  localStorage.removeItem("yizhan-code");
  location.reload();
});

let started = false;
async function start() {
  if (started) return;
  started = true;
  locate();
  showNetwork();
  try {
    const services = await YZ.categories();
    localStorage.setItem("yizhan-services", JSON.stringify(services));
    drawCategories(services);
  } catch (_) {
    drawCategories(JSON.parse(localStorage.getItem("yizhan-services") || "[]"));
  }
  await sendOutbox();
  loadMine();
}

function drawCategories(services) {
  const box = $("categories");
  box.replaceChildren();
  for (const s of services) {
    const b = YZ.el("button", { type: "button", class: "category", "data-code": s.service_code },
      YZ.el("span", { class: "icon" }, YZ.ICON[s.service_code] || "📌"), s.service_name);
    b.addEventListener("click", () => {
      state.category = s.service_code;
      for (const other of box.children) other.classList.toggle("chosen", other === b);
      loadNearby();
    });
    box.append(b);
  }
}

function locate() {
  if (!navigator.geolocation) {
    $("location").textContent = "此浏览器不能定位，请填写地址";
    return;
  }
  $("location").textContent = "正在定位…";
  navigator.geolocation.getCurrentPosition((p) => {
    state.position = { lat: p.coords.latitude, long: p.coords.longitude, accuracy: p.coords.accuracy };
    $("location").textContent = "已定位：" + p.coords.latitude.toFixed(5) + ", " +
      p.coords.longitude.toFixed(5) + "（误差约 " + Math.round(p.coords.accuracy) + " 米）";
    $("location").dataset.ready = "1";
    loadNearby();
  }, (e) => {
    $("location").textContent = "定位失败（" + e.message + "），请打开定位后点“重新定位”";
  }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 30000 });
}
$("relocate").addEventListener("click", locate);

$("photo").addEventListener("change", () => {
  const f = $("photo").files[0];
  state.photo = f || null;
  const img = $("photo-preview");
  if (f) { img.src = URL.createObjectURL(f); img.hidden = false; } else { img.hidden = true; }
});

// A voice note recorded in the page, cut off at VOICE_SECONDS_MAX.
$("record").addEventListener("click", async () => {
  if (state.recorder) { state.recorder.stop(); return; }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (e) {
    $("result").textContent = "无法使用麦克风：" + e.message;
    return;
  }
  const chunks = [];
  const rec = new MediaRecorder(stream);
  state.recorder = rec;
  const began = Date.now();
  const tick = setInterval(() => {
    const s = Math.floor((Date.now() - began) / 1000);
    $("record-time").textContent = s + " / " + VOICE_SECONDS_MAX + " 秒";
    if (s >= VOICE_SECONDS_MAX && rec.state === "recording") rec.stop();
  }, 250);
  rec.addEventListener("dataavailable", (ev) => { if (ev.data.size) chunks.push(ev.data); });
  rec.addEventListener("stop", () => {
    clearInterval(tick);
    stream.getTracks().forEach((t) => t.stop());
    state.recorder = null;
    state.voice = new Blob(chunks, { type: rec.mimeType || "audio/webm" });
    const a = $("voice-preview");
    a.src = URL.createObjectURL(state.voice);
    a.hidden = false;
    $("record").textContent = "🎤 重新录音";
    $("record").dataset.recorded = "1";
  });
  rec.start();
  $("record").textContent = "⏹ 停止录音";
});

async function loadNearby() {
  if (!state.category || !state.position || !navigator.onLine) return;
  const q = new URLSearchParams({ service_code: state.category, lat: state.position.lat,
    long: state.position.long, accuracy: state.position.accuracy });
  let list;
  try { list = await YZ.api(state.code, "/api/rider/nearby?" + q); } catch (_) { return; }
  $("nearby-box").hidden = list.length === 0;
  $("nearby").replaceChildren(...list.map((c) => {
    const b = YZ.el("button", { type: "button" }, "我也遇到");
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        const r = await YZ.api(state.code, "/api/rider/confirm", {
          method: "POST",
          headers: { "Content-Type": "application/json", "Idempotency-Key": "metoo-" + c.id },
          body: JSON.stringify({ id: c.id, service_code: state.category }),
        });
        b.textContent = "已附议（共 " + r.confirmations + " 人）";
      } catch (e) {
        b.disabled = false;
        $("result").textContent = e.message;
      }
    });
    return YZ.el("li", { class: "card" },
      YZ.el("div", {}, c.text || ""), YZ.el("div", { class: "hint" },
        "约 " + c.distance_m + " 米 · " + (YZ.STATUS[c.status] || c.status) + " · " + YZ.time(c.submitted_at)),
      b);
  }));
}

// Puts the report in the outbox first, then tries to send the outbox:
// the same path whether the phone is online or not.
$("submit").addEventListener("click", async () => {
  const result = $("result");
  if (!state.category) { result.textContent = "请先选择类别"; return; }
  if (!state.position) { result.textContent = "还没有定位，请打开定位后点“重新定位”"; return; }
  const entry = {
    key: (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()),
    made: Date.now(),
    service_code: state.category,
    lat: state.position.lat,
    long: state.position.long,
    address: $("address").value.trim(),
    description: $("description").value.trim(),
    photo: state.photo,
    voice: state.voice,
  };
  await Outbox.put(entry);
  resetForm();
  const sent = await sendOutbox();
  result.textContent = sent ? "已提交，谢谢！" : "现在没有网络，已保存，联网后会自动发送";
  loadMine();
});

function resetForm() {
  state.photo = null; state.voice = null;
  $("photo").value = ""; $("photo-preview").hidden = true;
  $("voice-preview").hidden = true; $("record").textContent = "🎤 按一下开始录音";
  delete $("record").dataset.recorded;
  $("record-time").textContent = "";
  $("description").value = ""; $("address").value = "";
}

async function send(entry) {
  const form = new FormData();
  form.append("api_key", state.code);
  form.append("service_code", entry.service_code);
  form.append("lat", entry.lat);
  form.append("long", entry.long);
  if (entry.address) form.append("address_string", entry.address);
  if (entry.description) form.append("description", entry.description);
  if (entry.photo) form.append("media", entry.photo, entry.photo.name || "photo.jpg");
  if (entry.voice) form.append("voice_note", entry.voice, "voice");
  try {
    await YZ.api(state.code, "/open311/v2/requests.json", {
      method: "POST", body: form, headers: { "Idempotency-Key": entry.key },
    });
  } catch (e) {
    if (!e.offline && e.status !== 429 && e.status !== 503) {
      $("result").textContent = "上报被拒绝：" + e.message;
    }
    throw e;
  }
}

async function sendOutbox() {
  let sent = 0;
  try { sent = await Outbox.flush(send); } catch (_) { /* storage unavailable */ }
  const left = (await Outbox.all().catch(() => [])).length;
  $("outbox").textContent = left ? "有 " + left + " 条上报等待联网发送" : "";
  $("outbox").dataset.waiting = String(left);
  return sent;
}

async function loadMine() {
  let list;
  try {
    list = await YZ.api(state.code, "/api/rider/mine");
  } catch (e) {
    // A revoked code (a lost phone, a rider who left): sign in again.
    if (e.status === 403) {
      localStorage.removeItem("yizhan-code");
      $("app").hidden = true;
      $("signin").hidden = false;
      $("signin-error").textContent = e.message;
    }
    return;
  }
  $("mine").replaceChildren(...list.map((r) => YZ.el("li", { class: "card", "data-id": r.id },
    YZ.el("div", {}, YZ.el("strong", {}, (YZ.ICON[r.category] || "") + " " + (YZ.STATUS[r.status] || r.status)),
      " · " + YZ.time(r.submitted_at)),
    r.text ? YZ.el("div", {}, r.text) : null,
    YZ.el("ol", { class: "history" }, r.history.map((h) =>
      YZ.el("li", {}, YZ.time(h.at) + " " + (YZ.STEP[h.kind] || h.kind) + (h.note ? "：" + h.note : "")))))));
}

function showNetwork() {
  $("net").textContent = navigator.onLine ? "" : "离线";
}
window.addEventListener("online", async () => { showNetwork(); await sendOutbox(); loadMine(); });
window.addEventListener("offline", showNetwork);

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js").catch(() => { /* the page still works online */ });
}
signIn();
