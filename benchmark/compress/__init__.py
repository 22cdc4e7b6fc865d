"""Compressing fitted networks for small devices: structured trimming (`trim`) and
magnitude masks for lottery tickets (`masks`).  The methods that use them live in
``methods/`` (``lstm-trim``, ``lstm-imp``, ...)."""
