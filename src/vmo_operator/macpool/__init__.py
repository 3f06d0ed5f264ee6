"""Cluster-unique MAC addresses for VM interfaces, assigned and checked at admission.

`mac` holds the pure rules, `reservation` and `allocator` the API-arbitrated bookkeeping,
`webhook` the admission decisions, `reconcile` and `audit` the repair and collision detection,
`certs` and `admission_config` what it takes to be called by the API server. Nothing here
imports kopf; the wiring lives in `vmo_operator.operator.macpool`.
"""
