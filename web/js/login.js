// Login box: shown when corrald answers 401 (auth on, no valid session). The token goes to
// POST /api/v1/login, which sets an HttpOnly session cookie; the page then reloads so the feed
// and the console reconnect with it. The token itself is never stored by the page.
import { api } from "./api.js";

let box = null;

function show() {
  if (box) return;
  box = document.createElement("div");
  box.className = "login-veil";
  box.innerHTML = `
    <form class="login" autocomplete="off">
      <h2>Log in to corral</h2>
      <p>This corrald needs a token (ask its admin).</p>
      <label>Token <input type="password" name="token" required autofocus></label>
      <p class="login-error" role="alert"></p>
      <button type="submit">Log in</button>
    </form>`;
  const form = box.querySelector("form");
  const err = box.querySelector(".login-error");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    const token = form.elements.token.value.trim();
    try {
      await api("POST", "/api/v1/login", { token });
      form.elements.token.value = "";
      location.reload();
    } catch (e) {
      err.textContent = e.message;
    }
  });
  document.body.appendChild(box);
  form.elements.token.focus();
}

export function installLogin() {
  window.addEventListener("corral:auth-required", show);
}
