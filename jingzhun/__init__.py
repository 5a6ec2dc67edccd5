"""The composition root: the ``jingzhun`` command, the ``up`` supervisor and the demo county. It may import
services (nothing else does); ``shared`` stays infrastructure."""
