/**
 * The status page's script: vanilla JavaScript, no framework. It lists the
 * newest top-level tasks, shows a task's tree and messages, reads the
 * leader and queue depth from `/health/extended`, and follows
 * `/api/v1.0/events` (read with `fetch` so it can send `X-Auth-Token`,
 * which `EventSource` cannot; it resumes with `Last-Event-ID`). Every
 * value is set as text, never as HTML.
 *
 * @module
 */

/** The page's script (no backticks inside: it lives in a template string). */
export const PAGE_SCRIPT = `
"use strict";
const API = "/api/v1.0";
const $ = (id) => document.getElementById(id);
const state = { tasks: new Map(), selected: null, events: 0, cursor: null, token: sessionStorage.getItem("statemgmt-token") || "" };

function el(tag, attrs, ...kids) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") n.className = v; else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
    else n.setAttribute(k, v);
  }
  for (const k of kids) if (k !== null && k !== undefined) n.append(k instanceof Node ? k : String(k));
  return n;
}
const pill = (prefix, v) => el("span", { class: "pill " + prefix + "-" + v }, v.replace("_", " "));
const short = (id) => id.slice(0, 8);
function ago(iso) {
  if (!iso) return "–";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return Math.floor(s) + "s ago";
  if (s < 3600) return Math.floor(s / 60) + "m ago";
  if (s < 86400) return Math.floor(s / 3600) + "h ago";
  return new Date(iso).toISOString().slice(0, 16).replace("T", " ");
}

async function api(path) {
  const headers = state.token ? { "X-Auth-Token": state.token } : {};
  const r = await fetch(API + path, { headers });
  if (r.status === 401) { $("auth").classList.add("show"); throw new Error("unauthorized"); }
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}

function taskRow(t) {
  const r = t.result;
  const nodes = r.successes.length + "✓ " + r.failures.length + "✗";
  const tr = el("tr", { class: "task" + (state.selected === t.task_id ? " sel" : ""), "data-task-id": t.task_id, onclick: () => select(t.task_id) },
    el("td", { class: "status" }, pill("s", t.status)), el("td", {}, t.action),
    el("td", { class: "result" }, pill("r", r.status)), el("td", { class: "mono dim" }, nodes),
    el("td", { class: r.details.errorCount ? "err" : "dim" }, r.details.errorCount),
    el("td", { class: "dim", title: t.created }, ago(t.created)), el("td", { class: "mono dim" }, short(t.task_id)));
  return tr;
}
function renderTasks(flashId) {
  const body = $("tasks").tBodies[0];
  const list = [...state.tasks.values()].sort((a, b) => b.created.localeCompare(a.created));
  body.replaceChildren(...list.map((t) => {
    const row = taskRow(t);
    if (t.task_id === flashId) row.classList.add("flash");
    return row;
  }));
  $("task-count").textContent = list.length;
  $("no-tasks").style.display = list.length ? "none" : "block";
}
async function loadTasks() {
  const list = await api("/tasks?order=newest&limit=100");
  state.tasks = new Map(list.map((t) => [t.task_id, t]));
  renderTasks();
}

function treeNode(id, all) {
  const t = all[id];
  if (!t) return el("li", { class: "dim" }, short(id));
  const kids = t.subtask_id_list.filter((k) => all[k]);
  return el("li", {}, el("span", { onclick: () => select(id) }, pill("s", t.status), " ",
      el("span", { class: "act" }, t.action), " ", pill("r", t.result.status), " ",
      el("span", { class: "mono dim" }, short(id))),
    kids.length ? el("ul", {}, ...kids.map((k) => treeNode(k, all))) : null);
}
function messagesOf(all) {
  const rows = [];
  for (const t of Object.values(all)) {
    if (typeof t !== "object" || !t.result) continue;
    for (const m of t.result.details.messageList) rows.push([m, t]);
  }
  rows.sort((a, b) => a[0].ts.localeCompare(b[0].ts));
  return rows.slice(-300);
}
function renderDetail(data) {
  const root = data[data.init_task_id];
  const r = root.result;
  $("detail-title").textContent = root.task_id;
  const dl = el("dl", {},
    el("dt", {}, "action"), el("dd", {}, root.action), el("dt", {}, "status"), el("dd", {}, pill("s", root.status)),
    el("dt", {}, "result"), el("dd", {}, pill("r", r.status), r.message ? " " + r.message : ""),
    el("dt", {}, "design ref"), el("dd", { class: "mono" }, root.design_ref || "–"),
    el("dt", {}, "node filter"), el("dd", { class: "mono" }, root.node_filter ? JSON.stringify(root.node_filter) : "–"),
    el("dt", {}, "successes"), el("dd", {}, r.successes.join(", ") || "–"),
    el("dt", {}, "failures"), el("dd", { class: r.failures.length ? "err" : "" }, r.failures.join(", ") || "–"),
    el("dt", {}, "created"), el("dd", {}, root.created + (root.created_by ? " by " + root.created_by : "")),
    el("dt", {}, "updated"), el("dd", {}, root.updated || "–"), el("dt", {}, "retry"), el("dd", {}, root.retry));
  const msgs = messagesOf(data);
  const table = el("table", { class: "msg" }, el("thead", {}, el("tr", {}, el("th", {}, "Time"), el("th", {}, "Task"), el("th", {}, "Context"), el("th", {}, "Message"))),
    el("tbody", {}, ...msgs.map(([m, t]) => el("tr", { class: m.error ? "e" : "" },
      el("td", { class: "mono dim" }, m.ts.slice(11, 19)), el("td", { class: "mono dim" }, short(t.task_id)),
      el("td", { class: "dim" }, m.context || ""), el("td", { class: m.error ? "err" : "" }, m.message)))));
  $("detail").replaceChildren(dl, el("h3", {}, "Tree"), el("ul", { class: "tree" }, treeNode(root.task_id, data)),
    el("h3", {}, "Messages (" + msgs.length + ")"), msgs.length ? table : el("div", { class: "dim" }, "No messages."));
}
async function select(id) {
  state.selected = id;
  for (const row of document.querySelectorAll("tr.task")) row.classList.toggle("sel", row.dataset.taskId === id);
  try { renderDetail(await api("/tasks/" + id + "?layers=-1")); } catch (e) { console.warn(e); }
}

async function loadHealth() {
  try {
    const h = await api("/health/extended");
    $("leader").textContent = h.leader ? h.leader.holder.slice(0, 18) : "none";
    $("term").textContent = h.leader ? h.leader.term : "–";
    $("queued").textContent = h.queue ? h.queue.queued : "–";
    $("running").textContent = h.queue ? h.queue.running : "–";
    $("schema").textContent = h.migration ? (h.migration.pending.length ? "pending" : h.migration.current || "–") : "down";
  } catch (e) { console.warn(e); }
}

const dirty = new Set();
let flushTimer = null;
function changed(id) {
  dirty.add(id);
  if (!flushTimer) flushTimer = setTimeout(flush, 150);
}
async function flush() {
  flushTimer = null;
  const ids = [...dirty].slice(0, 50);
  ids.forEach((id) => dirty.delete(id));
  let last = null;
  await Promise.all(ids.map(async (id) => {
    try { state.tasks.set(id, await api("/tasks/" + id)); last = id; } catch (e) { console.warn(e); }
  }));
  renderTasks(last);
  if (dirty.size) changed([...dirty][0]);
}
let detailTimer = null;
function onEvent(e) {
  state.events++;
  $("event-count").textContent = state.events;
  const line = el("div", {}, e.at.slice(11, 19) + "  " + e.kind.padEnd(10) + " " + e.status.padEnd(10) + " " + e.action + "  " + short(e.task_id));
  $("events").prepend(line);
  while ($("events").childElementCount > 200) $("events").lastChild.remove();
  if (e.parent_task_id === null) changed(e.task_id);
  if (state.selected && !detailTimer) detailTimer = setTimeout(() => { detailTimer = null; select(state.selected); }, 300);
  loadHealthSoon();
}
let healthTimer = null;
function loadHealthSoon() { if (!healthTimer) healthTimer = setTimeout(() => { healthTimer = null; loadHealth(); }, 500); }

function live(cls, text) { $("live").className = cls; $("live").lastChild.textContent = text; }
async function follow() {
  for (;;) {
    try {
      const headers = { Accept: "text/event-stream" };
      if (state.token) headers["X-Auth-Token"] = state.token;
      if (state.cursor) headers["Last-Event-ID"] = state.cursor;
      const r = await fetch(API + "/events", { headers });
      if (r.status === 401) { $("auth").classList.add("show"); live("off", "token needed"); return; }
      if (r.status === 410) { state.cursor = null; await loadTasks(); continue; }
      if (!r.ok || !r.body) throw new Error("events: " + r.status);
      live("on", "live");
      await readStream(r.body.getReader());
    } catch (e) { console.warn(e); }
    live("off", "reconnecting…");
    await new Promise((res) => setTimeout(res, 2000));
  }
}
async function readStream(reader) {
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true });
    let at;
    while ((at = buf.indexOf("\\n\\n")) >= 0) {
      const block = buf.slice(0, at); buf = buf.slice(at + 2);
      const f = { event: "message", data: "", id: null };
      for (const l of block.split("\\n")) {
        const i = l.indexOf(":"); if (i === 0) continue;
        const k = i < 0 ? l : l.slice(0, i); const v = i < 0 ? "" : l.slice(i + 1).replace(/^ /, "");
        if (k === "id") f.id = v; else if (k === "event") f.event = v; else if (k === "data") f.data += v;
      }
      if (f.id) state.cursor = f.id;
      if (f.event === "task") onEvent(JSON.parse(f.data));
      if (f.event === "expired") { state.cursor = null; loadTasks(); }
    }
  }
}

$("token-save").addEventListener("click", () => {
  state.token = $("token").value; sessionStorage.setItem("statemgmt-token", state.token);
  $("auth").classList.remove("show"); start();
});
$("token").addEventListener("keydown", (e) => { if (e.key === "Enter") $("token-save").click(); });
let following = false;
async function start() {
  try { await loadTasks(); } catch (e) { console.warn(e); return; }
  loadHealth();
  if (!following) { following = true; follow().finally(() => { following = false; }); }
}
setInterval(loadHealth, 5000);
setInterval(() => renderTasks(), 30000);
start();
`;
