// The staff console: cases of this node's place (overdue and open first),
// filters, one case with its photos, voice notes and history, and the
// lifecycle steps, each posted to /api/staff with the staff code.
"use strict";

const $ = (id) => document.getElementById(id);
let code = null;
let cases = [];
let current = null;
let names = {};

async function signIn(given) {
  const who = await YZ.api(given, "/api/staff/whoami");
  code = given;
  sessionStorage.setItem("yizhan-staff-code", given);
  $("who").textContent = who.name + " · " + who.place;
  $("signin").hidden = true;
  $("app").hidden = false;
  await setUp();
}

$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try { await signIn($("code").value.trim()); } catch (e) { $("signin-error").textContent = e.message; }
});

$("signout").addEventListener("click", (ev) => {
  ev.preventDefault();
  sessionStorage.removeItem("yizhan-staff-code");
  location.reload();
});

async function setUp() {
  const services = await YZ.categories();
  for (const s of services) {
    names[s.service_code] = s.service_name;
    $("f-category").append(YZ.el("option", { value: s.service_code }, s.service_name));
  }
  for (const [k, v] of Object.entries(YZ.STATUS)) $("f-status").append(YZ.el("option", { value: k }, v));
  await loadCases();
  await Promise.all([loadApplications(), loadTasks()]);
}

// Applicants waiting for approval: `yizhan roster approve` from the page.
async function loadApplications() {
  const list = await YZ.api(code, "/api/staff/applications");
  $("applications").replaceChildren(...(list.length ? list.map((m) => {
    const b = YZ.el("button", { type: "button", "data-member": m.id }, "批准");
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await YZ.api(code, "/api/staff/applications/" + encodeURIComponent(m.id) + "/approve", { method: "POST" });
        await loadApplications();
      } catch (e) {
        b.disabled = false;
        b.after(YZ.el("span", { class: "error" }, e.message));
      }
    });
    return YZ.el("li", { class: "card" }, YZ.el("strong", {}, m.display_name), " · " + m.id +
      (m.platform ? " · " + m.platform : "") + (m.grid ? " · 网格 " + m.grid : "") +
      " · 申请于 " + YZ.time(m.applied_at) + " ", b);
  }) : [YZ.el("li", { class: "hint" }, "没有待批准的申请")]));
}

const TASK_STATUS = { open: "待认领", claimed: "已认领", completed: "已完成", signed_off: "已确认" };

async function loadTasks() {
  const list = await YZ.api(code, "/api/staff/tasks");
  $("tasks").replaceChildren(...(list.length ? list.map((t) => YZ.el("li", { class: "card" },
    YZ.el("strong", {}, t.title), " · " + (TASK_STATUS[t.status] || t.status) + " · " + t.points + " 分",
    t.description ? YZ.el("div", { class: "hint" }, t.description) : null))
    : [YZ.el("li", { class: "hint" }, "没有任务")]));
}

$("filters").addEventListener("submit", (ev) => { ev.preventDefault(); loadCases(); });

async function loadCases() {
  const q = new URLSearchParams();
  if ($("f-category").value) q.set("category", $("f-category").value);
  if ($("f-status").value) q.set("status", $("f-status").value);
  cases = await YZ.api(code, "/api/staff/reports?" + q);
  const grid = $("f-grid").value.trim();
  const month = $("f-month").value; // YYYY-MM, in the browser's (the office's) time
  const shown = cases.filter((r) => (!grid || r.grid === grid) && (!month || monthOf(r.submitted_at) === month));
  $("cases").tBodies[0].replaceChildren(...shown.map(row));
}

function monthOf(iso) {
  const d = new Date(iso);
  return d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0");
}

function row(r) {
  const status = (YZ.STATUS[r.status] || r.status) + (r.overdue ? "（超期）" : "");
  const tr = YZ.el("tr", { class: r.overdue ? "overdue" : (["closed", "voided"].includes(r.status) ? "done" : ""), "data-id": r.id },
    YZ.el("td", {}, status),
    YZ.el("td", {}, (YZ.ICON[r.category] || "") + " " + (names[r.category] || r.category)),
    YZ.el("td", {}, r.text),
    YZ.el("td", {}, YZ.time(r.submitted_at)),
    YZ.el("td", {}, YZ.time(r.deadline)));
  tr.addEventListener("click", () => openCase(r.id));
  return tr;
}

async function openCase(id) {
  const r = await YZ.api(code, "/api/staff/reports/" + encodeURIComponent(id));
  current = r;
  drawCase(r);
}

function drawCase(r) {
  $("case").hidden = false;
  $("case").dataset.id = r.id;
  $("case-title").textContent = (names[r.category] || r.category) + " · " + (YZ.STATUS[r.status] || r.status);
  $("case-meta").textContent = r.id + " · " + r.place + (r.grid ? " · 网格 " + r.grid : "") +
    (r.address ? " · " + r.address : "") + " · " + r.lat.toFixed(5) + ", " + r.lon.toFixed(5) +
    " · 期限 " + YZ.time(r.deadline) + (r.overdue ? "（超期）" : "") +
    " · 附议 " + r.state.confirmations;
  $("case-text").textContent = r.text;
  $("case-media").replaceChildren(...r.attachments.map((a) => a.kind === "voice"
    ? YZ.el("audio", { controls: true, preload: "metadata", src: YZ.mediaUrl(a.hash, code), class: "voice" })
    : YZ.el("img", { src: YZ.mediaUrl(a.hash, code), alt: "照片", class: "photo" })));
  $("case-history").replaceChildren(YZ.el("li", {}, YZ.time(r.submitted_at) + " 上报"),
    ...r.events.map((e) => YZ.el("li", {}, YZ.time(e.at) + " " + (YZ.STEP[e.kind] || e.kind) +
      (e.to ? " → " + e.to : "") + (e.reason ? "（" + (YZ.REASON[e.reason] || e.reason) + "）" : "") +
      (e.photo ? " [处置照片]" : "") + (e.note ? "：" + e.note : ""))));
}

for (const b of document.querySelectorAll("#actions button[data-verb]")) {
  b.addEventListener("click", () => step(b.dataset.verb, b));
}

async function step(verb, button) {
  if (!current) return;
  const body = { note: $("a-note").value.trim() || null };
  if (verb === "void") body.reason = $("a-void-reason").value;
  if (verb === "close") body.reason = $("a-close-reason").value;
  if (verb === "dispatch") {
    body.to = $("a-to").value.trim();
    const due = $("a-due").value;
    body.due = due ? new Date(due).toISOString() : null;
  }
  const photo = $("a-photo").files[0];
  let request = { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  if (verb === "handle" && photo) {
    // The evidence photo goes as a multipart form with the same fields.
    const form = new FormData();
    for (const [k, v] of Object.entries(body)) if (v) form.append(k, v);
    form.append("photo", photo, photo.name);
    request = { method: "POST", body: form };
  }
  button.disabled = true;
  try {
    const r = await YZ.api(code, "/api/staff/reports/" + encodeURIComponent(current.id) + "/" + verb, request);
    $("a-photo").value = "";
    current = r;
    drawCase(r);
    $("action-result").textContent = "已记录：" + (YZ.STEP[verb] || verb) + "，现在" + (YZ.STATUS[r.status] || r.status);
    $("a-note").value = "";
    await loadCases();
  } catch (e) {
    $("action-result").textContent = e.message;
  } finally {
    button.disabled = false;
  }
}

const saved = sessionStorage.getItem("yizhan-staff-code");
const fromLink = /(?:^#|&)code=([0-9a-fA-F]+)/.exec(location.hash);
if (fromLink) history.replaceState(null, "", location.pathname);
const first = fromLink ? fromLink[1] : saved;
if (first) {
  signIn(first).catch((e) => { $("signin").hidden = false; $("signin-error").textContent = e.message; });
} else {
  $("signin").hidden = false;
}
