// The log-on page: the system-use banner first, then name, password and TOTP code.
"use strict";
(async () => {
  const form = document.getElementById("logon");
  const error = document.getElementById("error");
  const notice = document.getElementById("notice");
  try {
    const r = await fetch("/api/banner");
    notice.textContent = (await r.json()).banner;
  } catch (e) {
    notice.textContent = "The server cannot be reached.";
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const body = {
      username: form.username.value,
      password: form.password.value,
      code: form.code.value || null,
      banner_acknowledged: form.ack.checked,
    };
    let r;
    try {
      r = await fetch("/api/session", {
        method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
      });
    } catch (e) {
      error.textContent = "The server cannot be reached; try again.";
      return;
    }
    const answer = await r.json();
    if (!r.ok) {
      error.textContent = answer.message;
      form.password.value = "";
      form.code.value = "";
      form.password.focus();
      return;
    }
    if (answer.role === "supervisor" || answer.role === "admin") {
      window.location.assign("/wallboard");
    } else if (answer.role === "agent") {
      window.location.assign("/desktop");
    } else if (answer.role === "auditor") {
      window.location.assign("/audit");
    } else {  // (the planner's page comes later)
      error.textContent = `Logged on as ${answer.username} (${answer.role}); ` +
        "this role has no pages yet: use the API.";
    }
  });
})();
