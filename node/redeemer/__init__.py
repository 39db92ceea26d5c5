"""The remote redeemer (go-livepeer's `-redeemer` mode and `-redeemerAddr`; net/redeemer.proto,
server/redeemer.go; spec node.md §18).

An orchestrator may leave the funded key to another process: `lpnode redeemer` holds it, serves the
TicketRedeemer gRPC service, and runs the redemption queue (node.core.redemption over the SQLite
ticket store, node.orchestrator.ticket_store). An orchestrator started with `-redeemerAddr`
validates and credits tickets as before, forwards its winners with QueueTicket and takes each
sender's max float from the redeemer (MaxFloat, then MonitorMaxFloat updates).

- `wire`: tickets and max floats on the wire (go's protoTicket / pmTicket);
- `service`: the redeemer's side: the queue, max float and its change notifications, the servicer;
- `client`: the orchestrator's side: the gRPC client, the remote sender monitor (max float) and the
  ticket forwarder, which keeps every winner on disk until the redeemer has acknowledged it;
- `launch`: `lpnode redeemer`'s flags and start-up.
"""
