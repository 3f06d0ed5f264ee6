"""kopf wiring for the MAC pool, in parts that share one runtime object built by `vmo run`.

HA model. Every replica serves the webhooks and every replica may write reservations: the API
server arbitrates each MAC (create-if-absent, resourceVersion preconditions), so admission has no
leader and nothing to fail over. Only the audit, which garbage-collects orphaned reservations,
runs on one replica at a time, the holder of a Lease (`runtime.GC_LEASE`): safe on any replica,
but wasteful on two. The replicas share one endpoint: a Service in-cluster, or one
loopback port bound with SO_REUSEPORT in tests (kopf's server sets it), so the kernel spreads
connections and a killed replica's share moves to the survivors. kopf's managed webhook
configurations are not used (one URL per process, removed on exit); `admission_config` explains
the settings we write instead.

Admission grants (`macpool.grant`) are keyed from the webhook CA's private key, which every replica
loads from the shared Secret; during a CA rotation both CA keys verify, and a grant nobody can
verify only means the validating webhook reads the reservations again.

The parts: `runtime` (the shared object, with the reservation cache and the GC lease),
`lifecycle` (startup, cleanup, profile events and `register`), `admission` (the four webhooks),
`bookkeeping` (VM/VMI events), `certificates` (the shared Secret), `webhook_config` (the webhook
configurations), `maintenance` (the periodic loop), `probe` (the self-probe), `events` (collision
Events) and `metrics`.
"""
