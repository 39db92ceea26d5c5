"""lpsim: a discrete-event simulator of the Livepeer network with the contracts in the loop."""
