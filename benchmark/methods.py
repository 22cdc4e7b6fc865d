"""The built-in methods, by name (loaded lazily)."""

from __future__ import annotations

from benchmark.protocol import Method
from benchmark.registry import Registry, RegistryError

METHODS: Registry[type] = Registry(
    "method",
    {
        "unigram": "baselines.unigram:Unigram",
        "unigram-support": "baselines.unigram:UnigramSupport",
        "lstm": "baselines.lstm:LSTMBaseline",
        "lstm-concat": "baselines.lstm:LSTMConcat",
        "finetune": "methods.finetune:FineTune",
        "dyneval": "methods.dyneval:DynEval",
        "cache": "methods.cache:NeuralCache",
        "maml": "methods.maml:MAML",
        "fomaml": "methods.maml:FOMAML",
        "metasgd": "methods.maml:MetaSGD",
        "transformer-icl": "methods.transformer_icl:TransformerICL",
    },
)

BASELINES = ("unigram", "unigram-support", "lstm", "lstm-concat")


def make_method(name: str) -> Method:
    """Instantiate a registered method, or a user's ``package.module:Class``."""
    cls = METHODS.get(name)
    method = cls() if isinstance(cls, type) else None
    missing = [a for a in ("fit", "adapt", "save", "load", "hparams", "n_params") if not hasattr(method, a)]
    if method is None or missing:
        raise RegistryError(
            f"{name!r} is not a usable method class (missing {', '.join(missing) or 'a class'}); "
            "see benchmark.protocol.Method"
        )
    return method
