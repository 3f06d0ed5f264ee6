"""vmo-operator: one VMOProfile turns a cluster into a virtual-machine platform."""

__version__ = "0.1.0"
