"""Video style transfer without flicker (the ``video`` extra: PyAV, OpenCV, scikit-image).

Built on the Gatys method and the feed-forward models, which it runs per frame.

- :mod:`~nstlib.video.io`: frames in and out with PyAV.
- :mod:`~nstlib.video.flow`: optical flow, warping and occlusions.
- :mod:`~nstlib.video.transfer`: frame by frame, Ruder et al.'s temporal constraints, feed-forward.
- :mod:`~nstlib.video.stable`: the fast network fine-tuned with a temporal loss on simulated motion.

Taught in notebook 16 (video).
"""
