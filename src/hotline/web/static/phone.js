// The browser phone, shared by the desktop and the wallboard: the carrier's JavaScript voice
// SDK (Twilio.Device, vendored under /static/vendor/, loaded only once the server gives this
// person a token), registered to take the legs the carrier dials to them. A leg the page
// expects (a call the agent accepted, a consultation, a supervisor's listen) is answered at
// once: the person already said yes on the page. Any other is refused. Hold, transfer and
// hang-up stay the server's. The state is shown in one line that is always there.
"use strict";
window.hotlinePhone = Object.freeze((() => {
  const SDK = "/static/vendor/twilio.min.js";

  function loadSdk() {
    if (window.Twilio && window.Twilio.Device) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = SDK;
      script.addEventListener("load", resolve);
      script.addEventListener("error", () => reject(new Error("its software did not load")));
      document.head.append(script);
    });
  }

  // start({tokenPath, csrf, status, expects, over}): `status` is the element that shows the
  // phone's state; `expects(callSid)` says (or promises) whether to answer a leg for that
  // call (null: the carrier did not say which); `over(callSid)` hears that a leg ended.
  async function start({tokenPath, csrf, status, expects, over = () => {}}) {
    const show = (state, text) => {
      status.dataset.phone = state;
      status.textContent = text;
      status.title = text;
    };
    const token = async () => {
      const r = await fetch(tokenPath, {method: "POST",
        headers: {"X-CSRF-Token": csrf, "X-Hotline-Background": "1"}});
      if (r.status === 401) { window.location.assign("/login"); return null; }
      return {status: r.status, body: await r.json()};
    };
    show("starting", "Browser phone: starting…");
    let got;
    try {
      got = await token();
    } catch (e) {
      show("error", "Browser phone: the server cannot be reached; reload the page to try again.");
      return null;
    }
    if (!got) return null;
    if (got.status === 404) {
      show("none", "Calls ring on the phone set for you, not in this browser.");
      return null;
    }
    if (got.status !== 200) {
      show("none", `No browser phone: ${got.body.message || `refused (${got.status})`}`);
      return null;
    }
    const calls = new Set();  // legs this phone answered that are not over
    // A page going away with a call up would have the SDK hang the call up: this listener,
    // added before the SDK's own, stops that (the call must outlive the browser; the agent
    // ends it with Hang up).
    window.addEventListener("pagehide", (e) => { if (calls.size) e.stopImmediatePropagation(); });
    let device;
    try {
      await loadSdk();
      // its sounds: a silence of our own (they would load from the carrier's site, and the
      // SDK plays each, muted, as it starts); a leg is answered at once, with no ringtone
      const silence = "/static/silence.wav";
      const sounds = Object.fromEntries(
        Object.values(window.Twilio.Device.SoundName).map((name) => [name, silence]));
      const options = {closeProtection: false, sounds};
      if (got.body.signal_url) {  // the carrier emulator's signalling, and no insights
        Object.assign(options, {chunderw: new URL(got.body.signal_url).host, publishEvents: false});
      }
      device = new window.Twilio.Device(got.body.token, options);
    } catch (e) {
      show("error", `Browser phone: ${e.message}`);
      return null;
    }
    device.audio.incoming(false);
    device.audio.outgoing(false);
    device.audio.disconnect(false);
    const idle = () => (calls.size ? show("call", "Browser phone: on a call")
      : show("ready", "Browser phone: ready"));
    device.on("registering", () => show("starting", "Browser phone: connecting…"));
    device.on("registered", idle);
    device.on("unregistered", () => show("offline", "Browser phone: offline"));
    device.on("error", (e) => show("error", `Browser phone: ${e.message}`));
    device.on("tokenWillExpire", async () => {
      try {
        const renewed = await token();
        if (renewed && renewed.status === 200) device.updateToken(renewed.body.token);
      } catch (e) {  // (the SDK says so again if the token runs out)
        show("error", "Browser phone: the server cannot be reached to renew its token.");
      }
    });
    device.on("incoming", async (call) => {
      const sid = call.customParameters.get("call") || null;
      // (heard from now on: a leg cancelled while the page asks the server is not taken)
      let cancelled = false;
      call.on("cancel", () => { cancelled = true; });
      let take = false;
      try {
        take = await expects(sid);
      } catch (e) {
        take = false;
      }
      if (cancelled) return;
      if (!take) { call.reject(); return; }
      calls.add(call);
      const done = () => {
        if (!calls.delete(call)) return;
        over(sid);
        if (device.state === "registered") idle();
      };
      call.on("disconnect", done);
      call.on("cancel", done);
      call.on("reject", done);
      call.on("error", (e) => show("error", `Browser phone: ${e.message}`));
      call.accept();
      idle();
    });
    device.register().catch((e) => show("error", `Browser phone: ${e.message}`));
    return {
      // Another window has the phone now: this one is rung no more (a call it has up stays
      // up, at the carrier as in this page, until it ends).
      elsewhere() {
        device.removeAllListeners("registered");
        device.on("unregistered", () => show("offline", "Browser phone: in the other window"));
        device.unregister().catch(() => {});
      },
    };
  }

  return {start};
})());
