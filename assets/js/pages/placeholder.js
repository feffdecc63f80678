// Stand-in for pages whose module is not built yet: the right title and subtitle, and one plain
// sentence saying what the page shows, with the next step. Node-dependent pages say
// "No nodes yet — Add Node" when the live state reports no nodes.

import { h } from '../dom.js';
import { pageHeader, emptyState, render } from '../ui.js';

const PAGES = {
  topology: {
    title: 'Topology',
    subtitle: 'Every node you can see, its ports and the links between them',
    text: 'Each node is drawn here as a card with its inputs and outputs, linked to its peers by protocol and sized by bitrate.',
    needsNodes: true,
  },
  flows: {
    title: 'Flows',
    subtitle: 'Every flow as a signal path: source → input → flow → output → destination',
    text: 'Each flow on your nodes is listed here with its signal path, thumbnail and bitrate, with tunnels between nodes alongside.',
    needsNodes: true,
  },
  events: {
    title: 'Events & Alarms',
    subtitle: 'Monitor system events and active alarms',
    text: 'Events from your nodes and from the manager are listed here, newest first, with filters, acknowledge and CSV export.',
  },
  'admin-nodes': {
    title: 'Managed Nodes',
    subtitle: 'Register and manage edge nodes, relays and gateways',
    text: 'Every registered node is listed here with its type, status, version, expiry and last contact.',
    needsNodes: true,
  },
  'admin-users': {
    title: 'Users',
    subtitle: 'Accounts, roles, expiry and node access',
    text: 'Every account is listed here with its role, status, expiry, node access and last sign-in.',
  },
  'admin-audit-log': {
    title: 'Audit Log',
    subtitle: 'Who did what — every configuration change, command, secret rotation and user change.',
    text: 'Sign-ins, node, user and settings changes and every node command are recorded here, newest first.',
  },
  'admin-settings': {
    title: 'Settings',
    subtitle: 'The settings this manager uses, its TLS certificate and backups',
    text: 'Offline threshold, data retention, session and sign-in limits, AI defaults, TLS certificate status and backup are managed here.',
  },
  'ai-assistant': {
    title: 'AI Assistant',
    subtitle: 'Ask about your live plant; suggested changes wait for you to apply them',
    text: 'Conversations with a local or cloud model are kept here in threads. Any change it suggests is shown as a proposal with a diff.',
    action: { label: 'Set up AI keys', href: '/ai/keys' },
  },
  'ai-keys': {
    title: 'AI API Keys',
    subtitle: 'Configure API keys for AI-powered features',
    text: 'Ollama runs locally and needs no key. Keys for OpenAI, Anthropic and Google Gemini are saved here, for your account only.',
  },
  'node-detail': {
    title: 'Node',
    subtitle: 'Status, resources, flows and recent events',
    text: 'This node’s status, resources, network interfaces, flows with their bitrate charts, and recent events are shown here.',
    nodeAction: { label: 'Configuration', suffix: '/config' },
  },
  'node-config': {
    title: 'Node configuration',
    subtitle: 'Flows, inputs and outputs of this node',
    text: 'Flows, inputs and outputs are edited here with a form for each protocol, or as JSON with a diff before applying.',
    nodeAction: { label: 'Back to node', suffix: '' },
  },
};

const NOT_FOUND = {
  title: 'Page not found',
  subtitle: '',
  text: 'There is no page at this address.',
  action: { label: 'Go to the dashboard', href: '/dashboard' },
};

export async function mount(root, ctx) {
  const info = PAGES[ctx.page] || NOT_FOUND;
  ctx.setTitle(info.title);
  const header = h('div');
  const body = h('div');
  root.append(header, body);

  let title = info.title;
  let action = info.action || null;
  const { nodeId } = ctx.params;
  if (info.nodeAction && nodeId) {
    action = { label: info.nodeAction.label, href: `/nodes/${encodeURIComponent(nodeId)}${info.nodeAction.suffix}` };
  }
  const draw = (state = null) => {
    render(header, pageHeader({ title, subtitle: info.subtitle }));
    render(body, state || emptyState({ text: info.text, action }));
  };
  draw();

  if (info.nodeAction && nodeId) {
    try {
      const node = await ctx.api.get(`/api/v1/nodes/${encodeURIComponent(nodeId)}`);
      title = ctx.page === 'node-config' ? `${node.name} — configuration` : node.name;
      ctx.setTitle(title);
      draw();
    } catch (err) {
      if (err.status === 404) {
        draw(emptyState({
          text: 'This node does not exist, or your account has no access to it.',
          action: { label: 'View nodes', href: '/admin/nodes' },
        }));
      }
    }
  }

  if (info.needsNodes) {
    const noNodes = ctx.hasRole('admin')
      ? emptyState({ text: 'No nodes yet — Add Node to register your first edge, relay or gateway.', action: { label: 'Add Node', href: '/admin/nodes?add=1' } })
      : emptyState({ text: 'No nodes yet — an administrator adds them under Nodes.' });
    let empty = null;
    const check = (live) => {
      if (!live.snapshotAt || empty === (live.nodes.size === 0)) return; // redraw only on a change
      empty = live.nodes.size === 0;
      draw(empty ? noNodes : null);
    };
    check(ctx.socket.live);
    ctx.socket.on('live', check);
  }
}
