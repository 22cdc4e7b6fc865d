"""Calibration tasks: the project's networks measured on standard tasks with published
numbers, to check the implementation against the literature.  They are not few-shot
tracks and share nothing with the episode tracks (no manifests, no artist splits).

- `benchmark.calibration.jsb`: frame-level NLL of a piano-roll LSTM on JSB Chorales
  (Boulanger-Lewandowski et al. 2012 split), against Bai et al. (2018) and others.
"""
