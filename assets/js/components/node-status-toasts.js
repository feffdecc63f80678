// Toasts for node status changes pushed by /ws/dashboard (product.md §4.5, §5.1): "Edge 1 is
// online" when a node registers or connects, "Edge 1 is offline" when it drops. A burst (a
// manager restart, a flapping site) is folded into one summary toast instead of a wall of them.

import { toast } from '../ui.js';

const WINDOW_MS = 2000;
const MAX_PER_WINDOW = 3;

export function nodeStatusToasts(socket) {
  let windowStart = 0;
  let shown = 0;
  let folded = 0;
  let foldTimer = null;

  const flushFolded = () => {
    foldTimer = null;
    if (folded > 0) toast(`${folded} more node${folded === 1 ? '' : 's'} changed status`, { kind: 'info' });
    folded = 0;
  };

  return socket.on('node_status', (frame) => {
    const name = frame.name || 'A node';
    let message = null;
    let kind = 'info';
    if (frame.to === 'online' && frame.from !== 'online') {
      message = frame.reason === 'registered' ? `${name} registered and is online` : `${name} is online`;
      kind = 'success';
    } else if (frame.to === 'offline' && frame.from === 'online') {
      message = frame.reason === 'timeout' ? `${name} is offline (no data)` : `${name} is offline`;
    } else if (frame.to === 'pending' && frame.reason === 'token_regenerated') {
      message = `${name} is waiting for its new registration token`;
    }
    if (!message) return;
    const now = Date.now();
    if (now - windowStart > WINDOW_MS) {
      windowStart = now;
      shown = 0;
    }
    if (shown < MAX_PER_WINDOW) {
      shown += 1;
      toast(message, { kind });
    } else {
      folded += 1;
      if (!foldTimer) foldTimer = setTimeout(flushFolded, WINDOW_MS);
    }
  });
}
