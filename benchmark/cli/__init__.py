"""The ``fsmb`` command line (`main`): the one composition root."""
