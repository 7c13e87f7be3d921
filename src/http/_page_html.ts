/**
 * The status page's markup and style: one self-contained document (no
 * build step, no external fetch; the script is in `_page_script.ts`).
 *
 * @module
 */

/** The page's CSS. */
export const PAGE_STYLE = `
:root {
  --bg: #0f1419; --panel: #161d25; --panel2: #1c2530; --line: #263241; --text: #d7dee6;
  --dim: #8594a5; --accent: #5aa9e6; --ok: #3fb27f; --warn: #e0a43a; --bad: #e5534b;
  --run: #5aa9e6; --queue: #a48be0; --mono: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
}
* { box-sizing: border-box; }
html, body { margin: 0; height: 100%; background: var(--bg); color: var(--text);
  font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header { display: flex; align-items: center; gap: 22px; padding: 10px 18px;
  background: var(--panel); border-bottom: 1px solid var(--line); }
header h1 { font-size: 15px; margin: 0; font-weight: 600; letter-spacing: .2px; }
header h1 small { color: var(--dim); font-weight: 400; margin-left: 6px; }
.stat { display: flex; flex-direction: column; min-width: 70px; }
.stat b { font: 600 15px var(--mono); }
.stat span { color: var(--dim); font-size: 11px; text-transform: uppercase; letter-spacing: .6px; }
.grow { flex: 1; }
#live { display: flex; align-items: center; gap: 7px; color: var(--dim); }
#live i { width: 9px; height: 9px; border-radius: 50%; background: var(--warn); display: inline-block; }
#live.on i { background: var(--ok); box-shadow: 0 0 6px var(--ok); }
#live.off i { background: var(--bad); }
#auth { display: none; gap: 8px; align-items: center; padding: 8px 18px; background: #2a1f12;
  border-bottom: 1px solid #5a4220; }
#auth.show { display: flex; }
input, button { font: inherit; color: var(--text); background: var(--panel2);
  border: 1px solid var(--line); border-radius: 5px; padding: 5px 9px; }
button { cursor: pointer; } button:hover { border-color: var(--accent); }
main { display: grid; grid-template-columns: minmax(520px, 1.25fr) minmax(420px, 1fr);
  gap: 14px; padding: 14px 18px; height: calc(100% - 58px); }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px;
  display: flex; flex-direction: column; min-height: 0; overflow: hidden; }
section > h2 { margin: 0; padding: 9px 14px; font-size: 12px; font-weight: 600; color: var(--dim);
  text-transform: uppercase; letter-spacing: .7px; border-bottom: 1px solid var(--line);
  display: flex; gap: 10px; align-items: center; }
.scroll { overflow: auto; min-height: 0; flex: 1; }
.right { display: grid; grid-template-rows: 1fr 190px; gap: 14px; min-height: 0; }
table { width: 100%; border-collapse: collapse; }
th { position: sticky; top: 0; background: var(--panel); text-align: left; font-weight: 500;
  color: var(--dim); padding: 6px 10px; border-bottom: 1px solid var(--line); font-size: 12px; }
td { padding: 6px 10px; border-bottom: 1px solid #1d2631; vertical-align: top; }
tr.task { cursor: pointer; } tr.task:hover td { background: #1a232d; }
tr.task.sel td { background: #1d2b3a; }
tr.flash td { animation: flash 1.2s ease-out; }
@keyframes flash { from { background: #27415a; } }
.mono { font-family: var(--mono); font-size: 12px; } .dim { color: var(--dim); }
.pill { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 11.5px;
  font-weight: 600; border: 1px solid currentColor; white-space: nowrap; }
.s-requested { color: var(--dim); } .s-queued { color: var(--queue); } .s-running { color: var(--run); }
.s-terminating { color: var(--warn); } .s-terminated { color: var(--bad); } .s-complete { color: var(--ok); }
.r-success { color: var(--ok); } .r-partial_success { color: var(--warn); } .r-failure { color: var(--bad); }
.r-incomplete, .r-unreported { color: var(--dim); }
.err { color: var(--bad); font-weight: 600; }
#detail { padding: 12px 14px; }
#detail .empty { color: var(--dim); padding: 30px 0; text-align: center; }
dl { display: grid; grid-template-columns: 110px 1fr; gap: 4px 12px; margin: 0 0 14px; }
dt { color: var(--dim); } dd { margin: 0; word-break: break-all; }
h3 { font-size: 12px; color: var(--dim); text-transform: uppercase; letter-spacing: .6px;
  margin: 16px 0 6px; font-weight: 600; }
ul.tree, ul.tree ul { list-style: none; margin: 0; padding-left: 16px; }
ul.tree { padding-left: 0; }
ul.tree li { padding: 2px 0; } ul.tree li > span { cursor: pointer; }
ul.tree li > span:hover .act { text-decoration: underline; }
.msg td { font-size: 12px; } .msg tr.e td { background: #2a1618; }
#events { font-family: var(--mono); font-size: 12px; padding: 4px 0; }
#events div { padding: 2px 14px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
#events div:first-child { color: var(--text); } #events div { color: var(--dim); }
#detail-title { text-transform: none; letter-spacing: 0; font-weight: 400; }
.count { font: 600 11px var(--mono); color: var(--text); background: var(--panel2);
  padding: 0 7px; border-radius: 8px; }
`;

/** The page's body markup (filled in by the script). */
export const PAGE_BODY = `
<header>
  <h1>Drydock <small>statemgmt</small></h1>
  <div class="stat"><b id="leader">–</b><span>leader</span></div>
  <div class="stat"><b id="term">–</b><span>term</span></div>
  <div class="stat"><b id="queued">–</b><span>queued</span></div>
  <div class="stat"><b id="running">–</b><span>running</span></div>
  <div class="stat"><b id="schema">–</b><span>schema</span></div>
  <div class="grow"></div>
  <div id="live" class=""><i></i><span>connecting…</span></div>
</header>
<div id="auth"><span>This API needs a token.</span>
  <input id="token" type="password" placeholder="X-Auth-Token" autocomplete="off">
  <button id="token-save">Use token</button></div>
<main>
  <section><h2>Tasks <span class="count" id="task-count">0</span></h2>
    <div class="scroll"><table id="tasks"><thead><tr>
      <th>Status</th><th>Action</th><th>Result</th><th>Nodes</th><th>Errors</th><th>Created</th><th>Task</th>
    </tr></thead><tbody></tbody></table>
    <div id="no-tasks" class="dim" style="padding:24px;text-align:center">No tasks yet.</div></div>
  </section>
  <div class="right">
    <section><h2>Task <span id="detail-title" class="mono dim"></span></h2>
      <div class="scroll" id="detail"><div class="empty">Select a task to see its tree and messages.</div></div>
    </section>
    <section><h2>Events <span class="count" id="event-count">0</span></h2>
      <div class="scroll" id="events"></div></section>
  </div>
</main>
`;
