// The operators' page of `scheduler console`: reads /api/state every few seconds, flips with /api/switch.
// The secret comes in the URL's fragment (never sent to a server), or inside the page that /login answers to the
// launcher file; it goes on every API call as a header, and never stays in the address bar or the history.
"use strict";

const REFRESH_MS = 2000;
const SECRET_KEY = "scheduler-console-secret";
const fragment = new URLSearchParams(location.hash.slice(1));
const given = document.querySelector('meta[name="console-secret"]');
const secret = fragment.get("secret") || (given && given.content) || sessionStorage.getItem(SECRET_KEY) || "";
if (fragment.get("secret") || given) {
  sessionStorage.setItem(SECRET_KEY, secret);
  history.replaceState(null, "", "/"); // the secret leaves the address bar; /login is not reloaded
}

let shown = null; // the status the page shows: its ETag is what a change is conditional on
let busy = false;
let announced = null; // the ETag a 412 already told the operator about

const $ = (id) => document.getElementById(id);

function text(id, value) {
  $(id).textContent = value;
}

// One time per version everywhere: UTC to the second with its zone, as the CLI prints it (2026-12-03 16:55:23
// UTC); the reader's own time on hover.
function utc(moment) {
  return moment.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC").replace(/Z$/, " UTC");
}

function timeElement(iso) {
  const node = document.createElement("time");
  if (!iso) {
    node.textContent = "unknown";
    return node;
  }
  const moment = new Date(iso);
  node.dateTime = moment.toISOString();
  node.textContent = utc(moment);
  node.title = `${moment.toLocaleString()} (your time)`;
  return node;
}

// What stops the page from showing the switch, at the top, in words a person can act on; null clears it.
function problem(message) {
  const node = $("problem");
  node.hidden = !message;
  node.textContent = message || "";
  if (message && !shown) {
    $("state").className = "state unknown";
    text("state-word", "UNKNOWN: see above");
  }
}

function setTime(id, iso) {
  $(id).replaceChildren(timeElement(iso));
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { "Console-Secret": secret, ...(options.headers || {}) },
    cache: "no-store",
  });
  let body = {};
  try {
    body = await response.json();
  } catch (error) {
    body = { message: `HTTP ${response.status}` };
  }
  return { status: response.status, body };
}

function render(state) {
  const status = state.status;
  const typing = $("reason-input").value.trim() || $("confirm-input").value.trim();
  if (shown && shown.etag !== status.etag && status.etag !== announced && typing && !busy) {
    // What the operator was about to flip is no longer what the switch is: never let Enter flip it blindly.
    $("confirm-input").value = "";
    const when = status.updated_at ? utc(new Date(status.updated_at)) : "an unknown time";
    outcome("stale", `The switch changed while you typed: by ${status.updated_by || "someone"} at ${when}. Check it, then confirm again.`);
  }
  shown = status;
  const paused = status.is_paused;
  const box = $("state");
  box.className = `state ${paused ? "paused" : "running"}`;
  text("state-word", paused ? "PAUSED: scheduling is stopped" : "RUNNING: scheduling goes on");
  text("stage", state.stage);
  text("confirm-stage", state.stage);
  text("api", state.api);
  $("signing").textContent = state.signed
    ? "signed with your credentials by scheduler console"
    : "unsigned: the local stack does not check signatures";
  setTime("since", status.updated_at);
  text("by", status.updated_by || "unknown");
  text("via", status.via);
  text("reason", status.reason || "no reason given");
  text("version", `${status.version} (ETag ${status.etag})`);
  const windows = status.windows.map((window) => {
    const item = document.createElement("li");
    item.append(`${window.name} until `, timeElement(window.until));
    if (new Date(window.until) < new Date()) item.append(" (lapsed)");
    return item;
  });
  if (!windows.length) {
    const none = document.createElement("li");
    none.textContent = "none";
    windows.push(none);
  }
  $("windows").replaceChildren(...windows);
  const verb = paused ? "Resume" : "Pause";
  text("change-what", paused ? "Resume scheduling on every node of this stage." : "Pause scheduling on every node of this stage.");
  text("flip", `${verb} scheduling`);
  $("flip").disabled = busy;
  renderHistory(state.changes, state.history_error);
  text("refreshed", utc(new Date()));
}

function renderHistory(changes, error) {
  const note = $("history-error");
  note.hidden = !error;
  note.textContent = error ? `History unavailable: ${error}` : "";
  const word = (value) => (value === null ? "?" : value ? "paused" : "resumed");
  const rows = changes.map((change) => {
    const row = document.createElement("tr");
    const cells = [
      timeElement(change.time),
      `${word(change.previous_is_paused)} → ${word(change.is_paused)}`,
      change.updated_by || "unknown",
      change.via,
      change.reason || "—",
    ];
    for (const value of cells) {
      const cell = document.createElement("td");
      cell.append(value);
      row.append(cell);
    }
    return row;
  });
  if (!rows.length) {
    const row = document.createElement("tr");
    const cell = document.createElement("td");
    cell.colSpan = 5;
    cell.textContent = "no change in the last week";
    row.append(cell);
    rows.push(row);
  }
  $("history").replaceChildren(...rows);
}

function outcome(kind, message) {
  const node = $("outcome");
  node.className = kind;
  node.textContent = message;
}

async function refresh() {
  if (!secret) {
    problem("This page has no key: open the URL that scheduler console printed (or the launcher it wrote), not this address alone.");
    return;
  }
  try {
    const { status, body } = await api("/api/state");
    if (status === 200) {
      problem(null);
      render(body);
    } else if (status === 403) {
      problem(`This page's key is not this console's: ${body.message}. Open the URL scheduler console printed last.`);
    } else if (status === 502 && body.kind === "unreachable") {
      problem(`The scheduler API does not answer: ${body.message}. The page tries again every ${REFRESH_MS / 1000} s.`);
    } else if (status === 502 && body.kind === "refused") {
      problem(`The scheduler API refused the console's request: ${body.message}. Check the credentials scheduler console runs with.`);
    } else {
      problem(`The switch cannot be read (HTTP ${status}): ${body.message}`);
    }
  } catch (error) {
    problem(`scheduler console does not answer (${error.message}): is it still running? Start it again, then open the URL it prints.`);
  }
}

async function submit(event) {
  event.preventDefault();
  if (!shown || busy) return;
  const reason = $("reason-input").value.trim();
  const confirm = $("confirm-input").value.trim();
  if (!reason) {
    outcome("refused", "Say why: a reason is required.");
    $("reason-input").focus();
    return;
  }
  if (confirm !== $("confirm-stage").textContent) {
    outcome("refused", `Type the stage's name, ${$("confirm-stage").textContent}, to confirm.`);
    $("confirm-input").focus();
    return;
  }
  busy = true;
  $("flip").disabled = true;
  outcome("", "Sending…");
  try {
    const { body } = await api("/api/switch", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ is_paused: !shown.is_paused, reason, confirm, if_match: shown.etag }),
    });
    outcome(body.outcome || "error", body.message || "no answer");
    if (body.outcome === "written") {
      $("reason-input").value = "";
      $("confirm-input").value = "";
    } else if (body.outcome === "stale") {
      $("confirm-input").value = ""; // confirm again, against what the switch is now
      if (body.status) announced = body.status.etag;
    }
  } catch (error) {
    outcome("error", `Cannot reach scheduler console: ${error.message}`);
  } finally {
    busy = false;
    await refresh();
  }
}

$("change").addEventListener("submit", submit);
refresh();
setInterval(refresh, REFRESH_MS);
