// Bulwark's passkey glue (docs/passkeys.md), loaded only by pages that offer a passkey.
//
// Each <form data-passkey="START"> is a plain form. On submit this asks START (a server
// function) for the options, hands them to the browser (navigator.credentials), puts the
// browser's answer in the form's "response" field and posts the form: the server checks
// it, and any error comes back on the page like every form's. The ceremony's state never
// leaves the server. Without JavaScript the forms stay hidden and [data-passkey-fallback]
// says so; this script swaps one for the other.
const PKC = window.PublicKeyCredential;
const supported = Boolean(
  PKC && PKC.parseCreationOptionsFromJSON && PKC.parseRequestOptionsFromJSON && navigator.credentials,
);
// The browser's autofill request, aborted before any other (one may be pending at a time).
let autofill = null;

function say(form, text) {
  const message = form.querySelector("[data-passkey-message]");
  if (message) {
    message.textContent = text;
    message.hidden = !text;
  }
}

// What a refused start means, from the server's error name (see app/src/error.rs).
function refusal(status, error) {
  const name = typeof error === "string" ? error : Object.keys(error || {})[0];
  if (name === "StepUpRequired") return null;
  if (status === 429) return "Too many attempts. Please wait a minute and try again.";
  if (name === "PasskeyName") return "A passkey's name has at most 64 characters.";
  if (name === "SecondStepExpired") return "Your sign-in has timed out. Please sign in again.";
  if (name === "NotFound") return "You have no passkey that can be used here.";
  return "Passkeys are not available right now. Please use another way.";
}

async function options(form) {
  const body = new URLSearchParams();
  for (const name of (form.dataset.passkeySend || "").split(" ").filter(Boolean)) {
    const field = form.elements.namedItem(name);
    if (field) body.set(name, field.value);
  }
  const answer = await fetch(form.dataset.passkey, {
    method: "POST",
    headers: { Accept: "application/json", "Content-Type": "application/x-www-form-urlencoded" },
    body,
    credentials: "same-origin",
  });
  if (!answer.ok) {
    const error = await answer.json().catch(() => null);
    const text = refusal(answer.status, error);
    if (text === null) {
      // A change that needs a fresh step-up: there and back again.
      location.assign(`/step-up?next=${encodeURIComponent(location.pathname)}`);
    }
    throw new Error(text || "");
  }
  return JSON.parse(await answer.json());
}

async function run(form, conditional) {
  if (!conditional && autofill) {
    autofill.abort();
    autofill = null;
  }
  say(form, "");
  let json;
  try {
    json = await options(form);
  } catch (error) {
    if (!conditional) say(form, error instanceof TypeError ? "Could not reach the server. Check your connection and try again." : error.message);
    return;
  }
  let credential;
  try {
    if (form.dataset.passkeyMode === "create") {
      credential = await navigator.credentials.create({ publicKey: PKC.parseCreationOptionsFromJSON(json.publicKey) });
    } else {
      const request = { publicKey: PKC.parseRequestOptionsFromJSON(json.publicKey) };
      if (conditional) {
        autofill = new AbortController();
        request.mediation = "conditional";
        request.signal = autofill.signal;
      }
      credential = await navigator.credentials.get(request);
    }
  } catch (error) {
    if (error.name === "AbortError") return;
    say(
      form,
      error.name === "InvalidStateError"
        ? "This device already holds one of your passkeys."
        : "The passkey request was cancelled or timed out. Please try again.",
    );
    return;
  }
  if (!credential) return;
  form.elements.namedItem("response").value = JSON.stringify(credential.toJSON());
  form.submit();
}

function wire(form) {
  if (form.dataset.passkeyWired) return;
  form.dataset.passkeyWired = "yes";
  const box = form.closest("[data-passkey-box]");
  const fallback = box && box.querySelector("[data-passkey-fallback]");
  if (!supported) {
    if (fallback) fallback.textContent = "This browser cannot use passkeys. Please use another way.";
    return;
  }
  form.hidden = false;
  if (fallback) fallback.hidden = true;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(form, false);
  });
  if ("passkeyAutofill" in form.dataset && PKC.isConditionalMediationAvailable) {
    PKC.isConditionalMediationAvailable().then((available) => {
      if (available) run(form, true);
    });
  }
}

function scan(root) {
  if (root.matches && root.matches("form[data-passkey]")) wire(root);
  if (root.querySelectorAll) root.querySelectorAll("form[data-passkey]").forEach(wire);
}

scan(document);
// Pages drawn in the browser later (client-side navigation) bring their forms with them.
new MutationObserver((records) => {
  for (const record of records) for (const node of record.addedNodes) if (node.nodeType === 1) scan(node);
}).observe(document.body, { childList: true, subtree: true });
