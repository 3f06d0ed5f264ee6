"""The Kubernetes floor: the only package that talks to the API server.

`kinds` is the one table of API coordinates, `objects` the label and object helpers every layer
shares, `client` the REST client, `errors` its one error type, `watches` the 404-tolerant watchers,
`cluster` the cluster's identity (the kube-system UID). `kinds` and `objects` are pure data and may
be imported by the pure core; `client`, `watches` and `cluster` do I/O and are for the engine, the
MAC pool's store and the operator.
"""
