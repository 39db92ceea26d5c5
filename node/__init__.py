"""lpsim node: chain access, protocol core, wire formats, workers, gateway and orchestrator."""
