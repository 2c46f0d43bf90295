// sigver web page: enrol a user from dropped reference scans, verify a questioned scan (plain JS, no build step).
"use strict";
const $ = (id) => document.getElementById(id);
let refFiles = [];
let questioned = null;

function headers() {
  const t = $("token").value.trim();
  return t ? { Authorization: "Bearer " + t } : {};
}

async function api(method, path, body) {
  const res = await fetch(path, { method, body, headers: headers() });
  let data = null;
  try { data = await res.json(); } catch (e) { data = { detail: res.status + " " + res.statusText }; }
  if (!res.ok) throw new Error(data.detail || res.statusText);
  return data;
}

function status(el, text, kind) {
  el.textContent = text;
  el.className = "status" + (kind ? " " + kind : "");
}

function thumbs(container, srcs) {
  container.replaceChildren(...srcs.map((s) => { const i = document.createElement("img"); i.src = s.src; i.title = s.title || ""; return i; }));
}

function dropZone(zone, input, onFiles) {
  zone.addEventListener("click", (e) => { if (e.target.tagName !== "INPUT") input.click(); });
  zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") input.click(); });
  input.addEventListener("change", () => onFiles(Array.from(input.files)));
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault(); zone.classList.remove("over");
    onFiles(Array.from(e.dataTransfer.files).filter((f) => f.type.startsWith("image/") || f.type === ""));
  });
}

async function loadVersion() {
  try {
    const v = await api("GET", "/version");
    $("model").textContent = `model ${v.model.file} (${v.model.architecture}, weights sha256 ${v.model.sha256.slice(0, 12)}...), sigver ${v.sigver}`;
  } catch (e) { $("model").textContent = "model: " + e.message; }
}

async function loadUsers(select) {
  const list = $("users"), sel = $("verify-user");
  try {
    const { users } = await api("GET", "/users");
    list.replaceChildren(...users.map((u) => {
      const li = document.createElement("li");
      li.dataset.id = u.id;
      li.innerHTML = "<b></b><span></span>";
      li.firstChild.textContent = u.id;
      li.lastChild.textContent = `${u.n_references} refs, threshold ${u.threshold.toFixed(3)}`;
      li.addEventListener("click", () => { sel.value = u.id; showUser(u.id); });
      return li;
    }));
    const keep = select || sel.value;
    sel.replaceChildren(...(users.length ? users : [{ id: "" }]).map((u) => {
      const o = document.createElement("option"); o.value = u.id; o.textContent = u.id || "(enrol a user first)"; return o;
    }));
    if (users.some((u) => u.id === keep)) sel.value = keep;
    if (sel.value) await showUser(sel.value);
    else thumbs($("refs"), []);
  } catch (e) { list.replaceChildren(); status($("enrol-status"), e.message, "error"); }
}

async function showUser(id) {
  for (const li of $("users").children) li.classList.toggle("sel", li.dataset.id === id);
  try {
    const u = await api("GET", `/users/${encodeURIComponent(id)}?references=true`);
    thumbs($("refs"), u.references.map((r) => ({ src: "data:image/png;base64," + r.png, title: r.name })));
  } catch (e) { status($("verify-status"), e.message, "error"); }
}

async function enrol() {
  const id = $("enrol-id").value.trim(), far = $("enrol-far").value.trim(), st = $("enrol-status");
  if (!id) return status(st, "give a user id", "error");
  if (refFiles.length < 2) return status(st, "drop at least 2 reference scans", "error");
  const form = new FormData();
  refFiles.forEach((f) => form.append("references", f, f.name));
  if (far) form.append("target_far", far);
  const btn = $("enrol-btn");
  btn.disabled = true; status(st, `enrolling ${id} from ${refFiles.length} references...`);
  try {
    const u = await api("POST", `/users/${encodeURIComponent(id)}` + ($("enrol-replace").checked ? "?replace=true" : ""), form);
    status(st, `enrolled ${u.id}: ${u.n_references} references, threshold ${u.threshold.toFixed(3)}`, "ok");
    await loadUsers(u.id);
  } catch (e) { status(st, e.message, "error"); }
  btn.disabled = false;
}

function showScore(r, threshold) {
  const lo = Math.min(threshold - 2, r.score - 0.25), hi = Math.max(threshold + 2, r.score + 0.25);
  const pos = (v) => (100 * (v - lo) / (hi - lo)).toFixed(1) + "%";
  $("bar-fill").style.width = pos(r.score);
  $("bar-fill").className = "fill" + (r.accepted ? " accepted" : "");
  $("bar-thr").style.left = pos(threshold);
  $("score-label").textContent = `score ${r.score.toFixed(3)}`;
  $("thr-label").textContent = `threshold ${threshold.toFixed(3)}`;
  const d = $("decision");
  d.textContent = r.accepted ? "ACCEPTED" : "REJECTED";
  d.className = "decision " + r.decision;
  $("result").hidden = false;
}

async function verifyScan() {
  const id = $("verify-user").value, st = $("verify-status");
  if (!id) return status(st, "enrol a user first", "error");
  if (!questioned) return status(st, "drop a questioned scan", "error");
  const form = new FormData();
  form.append("images", questioned, questioned.name);
  $("verify-btn").disabled = true; status(st, "verifying...");
  try {
    const res = await api("POST", `/users/${encodeURIComponent(id)}/verify?preprocessed=true`, form);
    const r = res.results[0];
    $("q-net").src = "data:image/png;base64," + r.network_input_png;
    showScore(r, res.threshold);
    status(st, `${r.image} against ${res.user}: ${r.decision}`, r.accepted ? "ok" : "error");
  } catch (e) { status(st, e.message, "error"); $("result").hidden = true; }
  $("verify-btn").disabled = false;
}

async function deleteUser() {
  const id = $("verify-user").value;
  if (!id || !confirm(`Delete user ${id}?`)) return;
  try { await api("DELETE", `/users/${encodeURIComponent(id)}`); status($("verify-status"), `deleted ${id}`, "ok"); }
  catch (e) { status($("verify-status"), e.message, "error"); }
  await loadUsers();
}

window.addEventListener("DOMContentLoaded", () => {
  $("token").value = sessionStorage.getItem("sigver-token") || "";
  $("token").addEventListener("change", () => { sessionStorage.setItem("sigver-token", $("token").value.trim()); loadUsers(); });
  dropZone($("ref-drop"), $("ref-files"), (files) => {
    refFiles = files;
    thumbs($("ref-thumbs"), files.map((f) => ({ src: URL.createObjectURL(f), title: f.name })));
  });
  dropZone($("q-drop"), $("q-file"), (files) => {
    questioned = files[0] || null;
    if (questioned) {
      $("q-img").src = URL.createObjectURL(questioned);
      $("q-net").removeAttribute("src"); $("result").hidden = true;
      $("q-drop").querySelector("p").textContent = questioned.name;
    }
  });
  $("enrol-btn").addEventListener("click", enrol);
  $("verify-btn").addEventListener("click", verifyScan);
  $("delete-btn").addEventListener("click", deleteUser);
  $("verify-user").addEventListener("change", (e) => { if (e.target.value) showUser(e.target.value); });
  loadVersion();
  loadUsers();
});
