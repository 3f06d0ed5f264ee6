"""`vmo node-agent`: on each node, the bridges the profile's networks use, checked and reported.

`plan` decides (pure), `netlink` observes and acts on the kernel (pyroute2, the only user of it),
`main` runs the rounds and publishes each node's `NodeBridgeReport` through the Kubernetes floor.
"""
