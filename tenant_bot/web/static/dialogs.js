// Modal dialogs: the native <dialog> makes the rest of the page inert and closes on Escape; Tab is
// wrapped inside here too, and focus goes back to whatever opened the dialog.

const FOCUSABLE =
  'button:not([disabled]), [href], input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

function visible(node) {
  return node.offsetParent !== null || node.getClientRects().length > 0;
}

// The Tab wrap repeats the portal's (orchestrator/web/static/portal.js) on purpose: separate processes serve
// the two pages, and the bot's wheel holds no control-plane file, so neither can import the other's.
export function setupDialog(dialog) {
  dialog.addEventListener("keydown", (ev) => {
    if (ev.key !== "Tab") return;
    const items = [...dialog.querySelectorAll(FOCUSABLE)].filter(visible);
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    if (ev.shiftKey && document.activeElement === first) {
      ev.preventDefault();
      last.focus();
    } else if (!ev.shiftKey && document.activeElement === last) {
      ev.preventDefault();
      first.focus();
    }
  });
  for (const button of dialog.querySelectorAll("[data-close]")) {
    button.addEventListener("click", () => dialog.close());
  }
  dialog.addEventListener("close", () => {
    const back = dialog._returnFocus;
    dialog._returnFocus = null;
    if (back && document.contains(back)) back.focus();
  });
}

export function openDialog(dialog, focus) {
  dialog._returnFocus = document.activeElement;
  if (!dialog.open) dialog.showModal();
  (focus || dialog.querySelector(FOCUSABLE))?.focus();
}
