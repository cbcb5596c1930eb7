"""Feed-forward style transfer: one network pass instead of an optimisation.

- :mod:`~nstlib.feedforward.fast`: Johnson et al.'s transformer network, with conditional
  instance norm for several styles (Dumoulin et al.).
- :mod:`~nstlib.feedforward.adain`: arbitrary styles with adaptive instance norm (Huang & Belongie 2017).
- :mod:`~nstlib.feedforward.wct`: whitening and colouring transforms (Li et al. 2017).
- :mod:`~nstlib.feedforward.training`: data, the training loop, checkpoints and loss plots.
- :mod:`~nstlib.feedforward.models`: loading checkpoints (``weights_only=True``) and the shipped models.

Taught in notebooks 13 (fast style transfer), 14 (AdaIN and WCT) and 15 (the methods compared).
"""
