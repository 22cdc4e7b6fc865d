"""The built-in methods, by name (loaded lazily)."""

from __future__ import annotations

from typing import Sequence

from benchmark.contract.protocol import ContractError, Method, check_method_class
from benchmark.contract.registry import Registry, RegistryError

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
        "gaussian-global": "baselines.gaussian:GaussianGlobal",
        "gaussian-support": "baselines.gaussian:GaussianSupport",
        "ppca-support": "baselines.gaussian:PPCASupport",
        "vae": "methods.vae:VAE",
        "rhvae": "methods.rhvae:RiemannianHVAE",
    },
)

BASELINES = ("unigram", "unigram-support", "lstm", "lstm-concat", "gaussian-global", "gaussian-support",
             "ppca-support")


def make_method(name: str) -> Method:
    """Instantiate a registered method, or a user's ``package.module:Class``, after
    checking its class against the contract (`benchmark.contract.protocol.check_method_class`),
    so that a missing ``version`` fails here, not after training."""
    cls = METHODS.get(name)
    check_method_class(cls, name)
    try:
        return cls()
    except TypeError as exc:
        raise ContractError(f"{name}: breaks the method contract (benchmark/contract/protocol.py): it must be constructible "
                            f"without arguments ({exc})") from None


def check_modality(name: str, method: Method, modality: str, track: str) -> None:
    """Refuse a method on a track of a modality it does not model (a method without
    ``modalities`` is trusted)."""
    supported = getattr(method, "modalities", None)
    if supported is not None and modality not in supported:
        raise RegistryError(
            f"method {name!r} models {'/'.join(supported)} tracks, not {modality} ({track}); "
            f"{modality} methods: {', '.join(methods_for(modality))}"
        )


def methods_for(modality: str, names: Sequence[str] | None = None) -> list[str]:
    """The registered methods (of ``names``, default all) that model ``modality``."""
    return [n for n in (names or METHODS.names()) if modality in getattr(METHODS.get(n), "modalities", ())]
