"""Node simulator: behaves like real bilbycast-edge (protocol_version 4), bilbycast-relay
(protocol_version 1) and appear_x gateway sidecars on the manager's node WebSocket
(``node-protocol.md``).  Used as the demo fleet, the load generator and the test peer.

It models the NODE, independently of the manager's own drivers: nothing here imports the
rest of the ``bilbycast`` package except ``bilbycast.__version__``.

Modules:

* :mod:`.wire` — the shared JSON encoder, timestamps, envelopes, acks, WebSocket framing;
* edge: :mod:`.edge_validate` (object parsing/limits), :mod:`.edge_rules` (port conflicts,
  whole-config rules), :mod:`.edge_model` (AppConfig + runtime) with :mod:`.edge_flows` and
  :mod:`.edge_apply` (commands, update_config), :mod:`.edge_extras` (diagnostics, media,
  replay);
* :mod:`.relay_model` (relay commands + fleet tunnel registry), :mod:`.appearx_model`
  (simulated Appear X chassis);
* :mod:`.telemetry` (edge), :mod:`.telemetry_relay` (relay, appear_x), :mod:`.jpeg`;
* :mod:`.node` (:class:`SimulatedNode`: dialling, auth, reconnect) with the personalities
  :mod:`.edge_node`, :mod:`.relay_node`, :mod:`.appearx_node`;
* :mod:`.state` (state file), :mod:`.fleet` (many nodes in one loop), :mod:`.cli`.
"""

from bilbycast import __version__ as manager_version

from .fleet import Fleet, FleetError
from .node import Chaos, NodeOptions, SimulatedNode
from .state import StateStore

__all__ = ["Chaos", "Fleet", "FleetError", "NodeOptions", "SimulatedNode", "StateStore",
           "manager_version"]
