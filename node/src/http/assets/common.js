// Shared by the rider's page and the staff console: the API call with the
// access code as a bearer token, element building that never parses markup, and
// the Chinese names of statuses and lifecycle steps.
"use strict";

const YZ = {};

YZ.STATUS = {
  submitted: "已上报", verified: "已核实", voided: "已作废", dispatched: "已派单",
  handled: "已处置", escalated: "已上报街道", accepted: "街道已受理", closed: "已办结",
  reopened: "已重新打开",
};

YZ.STEP = {
  submit: "上报", verify: "核实", void: "作废", dispatch: "派单", handle: "处置",
  escalate: "上报街道", accept: "街道受理", close: "办结", reopen: "重新打开",
  confirm: "有人附议",
};

// Reasons of void and close, as `report void|close --reason` names them.
YZ.REASON = {
  duplicate: "重复", not_responsible: "不属职责", no_further_action: "无需进一步处理", fixed: "已解决",
};

YZ.ICON = {
  manhole_cover: "🕳️", electrical_fire: "🔥", elevator_fault: "🛗", fire_lane_blocked: "🚒",
  sanitation: "🗑️", public_facility_damage: "🚧", uncivil_behaviour: "🙅", dispute: "🗣️",
  child_safety: "🧒", lost_person: "🧓", traffic: "🚦", other: "📌",
};

// An element with attributes and children; strings become text nodes, so
// whatever a user wrote is shown as text and never parsed as HTML.
YZ.el = function (tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
  return e;
};

YZ.time = function (iso) {
  const d = new Date(iso);
  return isNaN(d) ? "" : d.toLocaleString("zh-CN", { hour12: false });
};

// The server's error answer is Open311's list of {code, description}.
YZ.errorText = async function (res) {
  try {
    const body = await res.json();
    if (Array.isArray(body) && body[0] && body[0].description) return body[0].description;
  } catch (_) { /* not JSON */ }
  return "请求失败（" + res.status + "）";
};

// A JSON call with the code as a bearer token. Throws an Error whose
// message is the server's description, or marks a network failure with
// `offline = true` so callers can queue instead.
YZ.api = async function (code, path, options) {
  const opts = Object.assign({ headers: {} }, options || {});
  opts.headers = Object.assign({ Authorization: "Bearer " + code }, opts.headers);
  let res;
  try {
    res = await fetch(path, opts);
  } catch (e) {
    const err = new Error("网络不通，请稍后再试");
    err.offline = true;
    throw err;
  }
  if (!res.ok) {
    const err = new Error(await YZ.errorText(res));
    err.status = res.status;
    throw err;
  }
  return res.json();
};

YZ.categories = async function () {
  const res = await fetch("/open311/v2/services.json");
  if (!res.ok) throw new Error(await YZ.errorText(res));
  return res.json();
};

YZ.mediaUrl = function (hash, code) {
  return "/open311/v2/media/" + encodeURIComponent(hash) + "?api_key=" + encodeURIComponent(code);
};
