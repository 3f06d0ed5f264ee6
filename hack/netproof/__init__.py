"""make netproof: the rendered VLAN networks and the node agent, run for real in a QEMU guest."""
