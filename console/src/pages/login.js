import { signIn } from "../api.js";
import { errorBox, field, h } from "../dom.js";

export function loginPage(main, { done }) {
  const user = h("input", { name: "username", autocomplete: "username", required: true });
  const pass = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const status = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "login", "aria-label": "Sign in" },
    h("h1", {}, "Sign in to beampipe"),
    field("Username", user), field("Password", pass),
    h("button", { type: "submit" }, "Sign in"), status);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    status.replaceChildren();
    try {
      await signIn(user.value, pass.value);
      const next = new URLSearchParams(location.search).get("next") || "";
      done(/^\/console(\/|$)/.test(next) ? next : null);
    } catch (err) {
      status.append(errorBox(err.status === 401 ? { message: "Wrong username or password." } : err));
      pass.value = "";
      pass.focus();
    }
  });
  main.append(form);
  user.focus();
}
