// Small "something changed" animations without forced layout. Restarting a CSS animation by
// toggling a class needs a reflow (`void el.offsetWidth`), which on a page of a thousand cards
// turns each live update into a thousand synchronous layouts; the Web Animations API does not.

const reducedMotion = window.matchMedia('(prefers-reduced-motion: reduce)');

/** Fade a value in after its text changed. */
export function fadeIn(el) {
  if (reducedMotion.matches || !el.isConnected) return;
  el.animate([{ opacity: 0.55 }, { opacity: 1 }], { duration: 450, easing: 'ease-out' });
}

/** Pulse a card's outline once (a status or health change). */
export function pulseOutline(el) {
  if (reducedMotion.matches || !el.isConnected) return;
  el.animate([
    { boxShadow: '0 0 0 0 rgb(96 165 250 / 0)' },
    { boxShadow: '0 0 0 3px rgb(96 165 250 / 0.55)', offset: 0.25 },
    { boxShadow: '0 0 0 0 rgb(96 165 250 / 0)' },
  ], { duration: 900, easing: 'ease-out' });
}
