// The catalogue edit form of one firmware library entry (inside the Flash dialog): title, version,
// family, release notes, notes, and "known good for its family", saved with PATCH
// /api/v1/firmware/{id}; the daemon's message (naming the field) is shown when it refuses.
import { api } from "./api.js";
import { h, setText } from "./dom.js";

/** A hidden form for entry f, as seen for family fam; onSaved(row) gets the entry as it is now.
 * Returns {el, open(f)}: open() fills the form from f and shows it. */
export function fwEditor(fam, onSaved) {
  let current = null;
  const title = h("input.fwe-title", { type: "text", maxLength: 200, placeholder: "MicroPython 1.25.0 for ESP8266" });
  const version = h("input.fwe-version", { type: "text", maxLength: 40, placeholder: "1.25.0", spellcheck: false });
  const family = h("input.fwe-family", { type: "text", maxLength: 32, placeholder: fam, spellcheck: false });
  const notes = h("textarea.fwe-release-notes", { rows: 3, maxLength: 8000 });
  const own = h("textarea.fwe-notes", { rows: 2, maxLength: 4000 });
  const good = h("input.fwe-known-good", { type: "checkbox" });
  const msg = h("p.message.fwe-message", { role: "status" });
  const save = h("button.primary.fwe-save", { type: "button" }, "Save");
  const cancel = h("button.fwe-cancel", { type: "button" }, "Cancel");
  const el = h("fieldset.fw-edit", { hidden: true },
    h("legend", {}, "Edit the catalogue entry"),
    h("label", {}, "Title ", title),
    h("div.fwe-row", {}, h("label", {}, "Version ", version), h("label", {}, "Family ", family)),
    h("label", {}, "Release notes ", notes),
    h("label", {}, "Notes ", own),
    h("label.check", {}, good, " Known good for its family (offered first when flashing it)"),
    msg,
    h("div.buttons", {}, cancel, save));

  const fields = () => ({
    title: title.value.trim(), version: version.value.trim(), family: family.value.trim(),
    release_notes: notes.value, notes: own.value,
  });
  function open(f) {
    current = f;
    title.value = f.title || "";
    version.value = f.version || "";
    family.value = f.family || "";
    notes.value = f.release_notes || "";
    own.value = f.notes || "";
    good.checked = (f.known_good_for || []).includes(f.family || fam);
    setText(msg, "");
    msg.className = "message fwe-message";
    el.hidden = false;
    title.focus();
  }
  cancel.onclick = () => { el.hidden = true; };
  save.onclick = async () => {
    if (!current) return;
    // only what changed is sent: an untouched field keeps what the bytes said (the version)
    const was = { title: current.title || "", version: current.version || "", family: current.family || "",
      release_notes: current.release_notes || "", notes: current.notes || "" };
    const body = {};
    for (const [k, v] of Object.entries(fields())) if (v !== was[k]) body[k] = v;
    const wasGood = (current.known_good_for || []).includes(current.family || fam);
    if (good.checked !== wasGood) body.known_good = good.checked;
    save.disabled = true;
    try {
      const row = Object.keys(body).length
        ? await api("PATCH", `/api/v1/firmware/${current.id}`, body) : current;
      current = row;
      setText(msg, "Saved.");
      msg.className = "message fwe-message ok";
      onSaved(row);
    } catch (e) {
      setText(msg, e.message);
      msg.className = "message fwe-message error";
    } finally {
      save.disabled = false;
    }
  };
  return { el, open };
}
