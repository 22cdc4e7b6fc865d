"""The benchmark harness, by role:

- `benchmark.contract`: what a method is (`protocol`), how methods are registered and
  loaded (`methods`, `registry`), evaluation-time settings (`overrides`) and the mock
  run that checks a method against every rule (`check`);
- `benchmark.nn`: the networks methods are built from (LSTM, functional LSTM,
  transformer, convolutional VAE, Riemannian Hamiltonian VAE maths);
- `benchmark.training`: the training loop and checkpoints, fitted state, model
  selection on meta-val, fitted-model identity;
- `benchmark.scoring`: held-out NLL of episodes, dequantisation, sample quality;
- `benchmark.cost`: what one generation step of a deployed network costs (MACs,
  operators, parameters, weight bytes);
- `benchmark.run`: the runner, its records and environment, argument checks, the
  Python API;
- `benchmark.cli`: the ``fsmb`` command, the one place all of the above are composed.
"""
